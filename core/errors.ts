import type { FieldError } from "./fields.js";

/**
 * Errors a caller caused: typed results at the api's edge (a union member of a mutation's
 * result), a plain line in the CLI. Anything else thrown is a bug and is masked.
 */
export abstract class GaolError extends Error {
  abstract readonly code: string;
}

export class ValidationError extends GaolError {
  readonly code = "VALIDATION";
  constructor(readonly fields: FieldError[]) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join("; "));
  }
}

export class QuotaExceededError extends GaolError {
  readonly code = "QUOTA_EXCEEDED";
  constructor(
    /** machines, memoryMiB, or a course's budget: course.machines, course.memoryMiB, course.studentMachines, lab.machinesPerStudent. */
    readonly quota: string,
    readonly limit: number,
    readonly requested: number,
  ) {
    super(
      quota === "lab.machinesPerStudent"
        ? `you already have ${limit} machine${limit === 1 ? "" : "s"} of this lab (lab.machinesPerStudent); use it, or destroy it to start afresh`
        : `quota exceeded: ${quota} would be ${requested}, limit ${limit}; destroy a machine or ask ${quota.startsWith("course.") ? "your instructor" : "an admin"} for more`,
    );
  }
}

export class ImageNotFoundError extends GaolError {
  readonly code = "IMAGE_NOT_FOUND";
  constructor(
    readonly image: string,
    why = "no image has that name (gaol images lists them)",
  ) {
    super(`image ${JSON.stringify(image)}: ${why}`);
  }
}

export class NotFoundError extends GaolError {
  readonly code = "NOT_FOUND";
  constructor(readonly what: string) {
    super(`${what} not found`);
  }
}

export class NoCapacityError extends GaolError {
  readonly code = "NO_CAPACITY";
  constructor(readonly memoryMiB: number) {
    super(`no host has room for a ${memoryMiB} MiB machine now; try less memory or try again later`);
  }
}

export class NameTakenError extends GaolError {
  readonly code = "NAME_TAKEN";
  constructor(readonly machineName: string) {
    super(`you already have a machine named ${JSON.stringify(machineName)}; pick another name or destroy that one`);
  }
}

export class InvalidStateError extends GaolError {
  readonly code = "INVALID_STATE";
  constructor(
    readonly state: string,
    action: string,
  ) {
    super(`cannot ${action} a machine that is ${state}`);
  }
}

/** The host has no account of that name to run a machine's kernel as. */
export class UnknownOwnerError extends GaolError {
  readonly code = "UNKNOWN_OWNER";
  constructor(readonly owner: string) {
    super(`no host account named ${JSON.stringify(owner)} can own a machine`);
  }
}

/** An extension past what the lab allows; says how much is left. */
export class ExtensionRefusedError extends GaolError {
  readonly code = "EXTENSION_REFUSED";
  constructor(
    readonly maxExtensionSeconds: number,
    readonly extensionLeftSeconds: number,
  ) {
    super(
      extensionLeftSeconds > 0
        ? `the lab allows ${inWords(extensionLeftSeconds)} more of extension (${inWords(maxExtensionSeconds)} in all); ask for less`
        : `this machine has had all the extension its lab allows (${inWords(maxExtensionSeconds)}); save your work to your home directory`,
    );
  }
}

/** A scheduled lab that does not take machines yet: its students' machines are booted for them before it opens. */
export class LabNotOpenError extends GaolError {
  readonly code = "LAB_NOT_OPEN";
  constructor(
    readonly opensAt: Date,
    readonly startsMachinesAt: Date,
  ) {
    super(
      `this lab opens at ${opensAt.toISOString()}; gaol boots your machine for it from ${startsMachinesAt.toISOString()}, so come back then`,
    );
  }
}

/** The user has no host account mapped, so no host could run their machine as anyone. */
export class NoHostAccountError extends GaolError {
  readonly code = "NO_HOST_ACCOUNT";
  constructor(readonly user: string) {
    super(
      `${user} has no host account to run machines as: an admin gives one with \`gaol token create --user ${user} --host-user ACCOUNT\``,
    );
  }
}

/** A machine of that id already has a directory on this host. */
export class MachineExistsError extends GaolError {
  readonly code = "MACHINE_EXISTS";
  constructor(readonly machine: string) {
    super(`machine ${JSON.stringify(machine)} already exists on this host`);
  }
}

/** This token has made too many changes too fast; `retryAfterSeconds` says when the next one is accepted. */
export class RateLimitedError extends GaolError {
  readonly code = "RATE_LIMITED";
  constructor(readonly retryAfterSeconds: number) {
    super(`too many changes with this token too fast; try again in ${inWords(retryAfterSeconds)}`);
  }
}

/** "1 second", "40 seconds", "3 minutes": a wait, for people. */
export function inWords(seconds: number): string {
  if (seconds < 120) return seconds === 1 ? "1 second" : `${seconds} seconds`;
  if (seconds < 7200) return `${Math.ceil(seconds / 60)} minutes`;
  return `${Math.ceil(seconds / 3600)} hours`;
}

/** This host cannot run machines as it is configured: each problem says what to change. Found at start, before any boot. */
export class HostConfigError extends GaolError {
  readonly code = "HOST_CONFIG";
  constructor(readonly problems: string[]) {
    super(problems.join("; "));
  }
}
