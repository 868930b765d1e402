import { type FieldError, ValidationError } from "../errors.js";

/** What a caller asks for; everything else is derived on the host. */
export interface MachineSpec {
  /** Stable identity (the API's id); the MAC and tap name derive from it. Defaults to the name. */
  id?: string;
  name: string;
  /** Host account that owns the machine and runs its kernel. */
  owner: string;
  image?: string;
  memoryMiB?: number;
  sshPublicKeys?: string[];
  /** A specific version of the image; the newest when absent. */
  imageVersion?: number;
  /** PID 1 inside: gaol's startenv unless the benchmark boots its naive baseline. */
  init?: string;
}

export const MEMORY_MIB = { min: 64, max: 16_384, default: 256 } as const;
export const NAME_PATTERN = /^[a-z0-9-]{1,32}$/;
/** Ids name files, taps and umids on the host. */
const ID_PATTERN = /^[a-z0-9-]{1,64}$/;
/** Only gaol's own programs inside the image may be init. */
const INIT_PATTERN = /^\/uml\/bin\/[a-z-]+$/;
export const DEFAULT_INIT = "/uml/bin/startenv";
export const IMAGE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/;

/** Checks every field and reports all bad ones at once. */
export function validateSpec(
  spec: MachineSpec,
): Required<Omit<MachineSpec, "id" | "imageVersion">> & { id: string; imageVersion?: number } {
  const fields: FieldError[] = [];
  if (!NAME_PATTERN.test(spec.name)) fields.push({ field: "name", message: "must match [a-z0-9-]{1,32}" });
  if (spec.id !== undefined && !ID_PATTERN.test(spec.id))
    fields.push({ field: "id", message: "must match [a-z0-9-]{1,64}" });
  const image = spec.image ?? "debian";
  if (!IMAGE_PATTERN.test(image)) fields.push({ field: "image", message: "is not an image name" });
  const memoryMiB = spec.memoryMiB ?? MEMORY_MIB.default;
  if (!Number.isInteger(memoryMiB) || memoryMiB < MEMORY_MIB.min || memoryMiB > MEMORY_MIB.max) {
    fields.push({ field: "memoryMiB", message: `must be an integer from ${MEMORY_MIB.min} to ${MEMORY_MIB.max}` });
  }
  const sshPublicKeys = (spec.sshPublicKeys ?? []).map((k) => k.trim());
  sshPublicKeys.forEach((key, i) => {
    if (!SSH_KEY.test(key)) fields.push({ field: `sshPublicKeys[${i}]`, message: "is not an OpenSSH public key" });
  });
  if (spec.imageVersion !== undefined && !(Number.isInteger(spec.imageVersion) && spec.imageVersion > 0))
    fields.push({ field: "imageVersion", message: "must be a positive integer" });
  const init = spec.init ?? DEFAULT_INIT;
  if (!INIT_PATTERN.test(init)) fields.push({ field: "init", message: "must be a program under /uml/bin" });
  if (!spec.owner) fields.push({ field: "owner", message: "is required" });
  if (fields.length > 0) throw new ValidationError(fields);
  const { imageVersion } = spec;
  return {
    id: spec.id ?? spec.name,
    name: spec.name,
    owner: spec.owner,
    image,
    imageVersion,
    memoryMiB,
    sshPublicKeys,
    init,
  };
}
