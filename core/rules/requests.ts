import { DEFAULT_IMAGE, DEFAULT_INIT, MEMORY_MIB } from "../defaults.js";
import { fieldPath } from "../fields.js";
import { LIMIT_BOUNDS, type LimitRequest } from "../limits.js";
import { errorsOf, FieldErrors } from "./check.js";
import { parseImageSource } from "./image-source.js";
import { hostAccount, imageName, initProgram, machineId, machineName, userName } from "./names.js";
import { integerWithin, memoryMiB, positiveInteger, sshPublicKey, syncInterval, tokenLifetime } from "./values.js";

export interface ProvisionInput {
  name?: string | null;
  image?: string | null;
  memoryMiB?: number | null;
  sshPublicKeys?: string[] | null;
  imageVersion?: number | null;
  /** Host-side limits that differ from the defaults. */
  limits?: { [K in keyof LimitRequest]?: number | null } | null;
}

/** Each limit asked for, within its bounds; only those asked for. */
function checkLimits(limits: NonNullable<ProvisionInput["limits"]>, errors: FieldErrors): LimitRequest {
  const asked: LimitRequest = {};
  for (const key of ["processes", "cpuWeight", "cpuPercent"] as const) {
    const value = limits[key];
    if (value == null) continue;
    errors.check(`limits.${key}`, value, integerWithin(LIMIT_BOUNDS[key]));
    asked[key] = value;
  }
  return asked;
}

/** Checks a provision request's fields into errors; returns them with the defaults filled in. */
function checkProvision(input: ProvisionInput, errors: FieldErrors) {
  if (input.name != null) errors.check("name", input.name, machineName);
  if (input.image != null) errors.check("image", input.image, imageName);
  const memory = input.memoryMiB ?? MEMORY_MIB.default;
  errors.check("memoryMiB", memory, memoryMiB);
  const sshPublicKeys = (input.sshPublicKeys ?? []).map((k) => k.trim());
  for (const [i, key] of sshPublicKeys.entries()) errors.check(fieldPath("sshPublicKeys", i), key, sshPublicKey);
  const imageVersion = input.imageVersion ?? undefined;
  if (imageVersion !== undefined) errors.check("imageVersion", imageVersion, positiveInteger);
  return {
    name: input.name ?? undefined,
    image: input.image ?? DEFAULT_IMAGE,
    memoryMiB: memory,
    sshPublicKeys,
    imageVersion,
    limits: checkLimits(input.limits ?? {}, errors),
  };
}

/** Keys to add to a machine: at least one, each an OpenSSH public key; trimmed, duplicates dropped. */
export function validateSshKeys(keys: readonly string[]): string[] {
  const errors = new FieldErrors();
  const trimmed = keys.map((k) => k.trim());
  if (trimmed.length === 0) errors.add({ field: "sshPublicKeys", message: "needs at least one key" });
  for (const [i, key] of trimmed.entries()) errors.check(fieldPath("sshPublicKeys", i), key, sshPublicKey);
  errors.throwIfAny();
  return [...new Set(trimmed)];
}

/** A provision request's fields, each checked, all bad ones reported at once; defaults filled in. */
export function validateProvision(input: ProvisionInput) {
  const errors = new FieldErrors();
  const valid = checkProvision(input, errors);
  errors.throwIfAny();
  return valid;
}

/** What a host is asked to run; everything else is derived there. */
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
  /** Host-side limits that differ from the defaults. */
  limits?: LimitRequest;
}

/** A host's own check of a spec (it may come from anywhere): the same rules as the api's, plus the host's own. */
export function validateSpec(spec: MachineSpec) {
  const errors = new FieldErrors();
  const valid = checkProvision(spec, errors);
  if (spec.id !== undefined) errors.check("id", spec.id, machineId);
  const init = spec.init ?? DEFAULT_INIT;
  errors.check("init", init, initProgram);
  if (!spec.owner) errors.add({ field: "owner", message: "is required" });
  errors.throwIfAny();
  return { ...valid, id: spec.id ?? spec.name, name: spec.name, owner: spec.owner, init };
}

/**
 * An image sync request: a name that stays under GAOL_ROOT and an rsync source that cannot
 * smuggle options or `..` (the agents check again before they run rsync).
 */
export function validateImageSync(input: { name: string; source: string; intervalSeconds?: number | null }) {
  const errors = new FieldErrors()
    .check("name", input.name, imageName)
    .add(...errorsOf(() => parseImageSource(input.source)));
  if (input.intervalSeconds != null) errors.check("intervalSeconds", input.intervalSeconds, syncInterval);
  errors.throwIfAny();
  return input;
}

/** Who a token is for: a gaol user name, optionally the host account their machines run as and a lifetime. */
export function validateTokenRequest<
  T extends { user: string; hostUser?: string | null; expiresInSeconds?: number | null },
>(input: T): T {
  const errors = new FieldErrors().check("user", input.user, userName);
  if (input.hostUser) errors.check("hostUser", input.hostUser, hostAccount);
  if (input.expiresInSeconds != null) errors.check("expiresInSeconds", input.expiresInSeconds, tokenLifetime);
  errors.throwIfAny();
  return input;
}
