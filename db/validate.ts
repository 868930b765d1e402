import { checkImageName, parseImageSource } from "../host/image/source.js";
import { MEMORY_MIB, NAME_PATTERN, SSH_KEY } from "../host/machine/spec.js";
import { ValidationError } from "./errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether id can be a row's id (Postgres refuses anything else in a uuid column). */
export const isUuid = (id: string): boolean => UUID.test(id);

export interface ProvisionInput {
  name?: string | null;
  image?: string | null;
  memoryMiB?: number | null;
  sshPublicKeys?: string[] | null;
  imageVersion?: number | null;
}

/** Checks every field of a provision request and reports all bad ones at once. */
export function validateProvision(input: ProvisionInput) {
  const fields: Array<{ field: string; message: string }> = [];
  if (input.name != null && !NAME_PATTERN.test(input.name))
    fields.push({ field: "name", message: "must match [a-z0-9-]{1,32}" });
  const memoryMiB = input.memoryMiB ?? MEMORY_MIB.default;
  if (!Number.isInteger(memoryMiB) || memoryMiB < MEMORY_MIB.min || memoryMiB > MEMORY_MIB.max) {
    fields.push({ field: "memoryMiB", message: `must be an integer from ${MEMORY_MIB.min} to ${MEMORY_MIB.max}` });
  }
  const sshPublicKeys = (input.sshPublicKeys ?? []).map((k) => k.trim());
  sshPublicKeys.forEach((key, i) => {
    if (!SSH_KEY.test(key)) fields.push({ field: `sshPublicKeys.${i}`, message: "is not an OpenSSH public key" });
  });
  const imageVersion = input.imageVersion ?? undefined;
  if (imageVersion !== undefined && !(Number.isInteger(imageVersion) && imageVersion > 0))
    fields.push({ field: "imageVersion", message: "must be a positive integer" });
  if (fields.length > 0) throw new ValidationError(fields);
  return { name: input.name ?? undefined, image: input.image ?? undefined, memoryMiB, sshPublicKeys, imageVersion };
}

/**
 * An image sync request: a name that stays under GAOL_ROOT and an rsync source that cannot
 * smuggle options or `..` (the agents' own checks, run here too so the api refuses first).
 */
export function validateImageSync(input: { name: string; source: string; intervalSeconds?: number | null }) {
  const fields: Array<{ field: string; message: string }> = [];
  for (const check of [() => checkImageName(input.name), () => parseImageSource(input.source)]) {
    try {
      check();
    } catch (error) {
      fields.push(...((error as { fields?: Array<{ field: string; message: string }> }).fields ?? []));
    }
  }
  const interval = input.intervalSeconds;
  if (interval != null && !(Number.isInteger(interval) && interval >= 60))
    fields.push({ field: "intervalSeconds", message: "must be a whole number of seconds, at least 60" });
  if (fields.length > 0) throw new ValidationError(fields);
  return input;
}

/** A friendly generated name: adjective-noun-4 hex digits. */
export function generateName(random: () => number = Math.random): string {
  const words = ["amber", "brisk", "calm", "deft", "eager", "fleet", "grand", "hale", "keen", "lucid"];
  const nouns = ["otter", "heron", "lynx", "finch", "marten", "wren", "ibex", "tern", "vole", "kite"];
  const pick = (list: string[]) => list[Math.floor(random() * list.length)] as string;
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, "0");
  return `${pick(words)}-${pick(nouns)}-${suffix}`;
}
