/** Errors a caller caused; the schema shows them as typed union members. */
export class ValidationError extends Error {
  constructor(readonly fields: Array<{ field: string; message: string }>) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join("; "));
  }
}

export class QuotaExceededError extends Error {
  constructor(
    readonly quota: "machines" | "memoryMiB",
    readonly limit: number,
    readonly requested: number,
  ) {
    super(`quota exceeded: ${quota} would be ${requested}, limit ${limit}`);
  }
}

export class ImageNotFoundError extends Error {
  constructor(readonly image: string) {
    super(`no image named ${JSON.stringify(image)}`);
  }
}

export class NotFoundError extends Error {
  constructor(readonly what: string) {
    super(`${what} not found`);
  }
}

export class NoCapacityError extends Error {
  constructor(readonly memoryMiB: number) {
    super(`no host has room for a ${memoryMiB} MiB machine`);
  }
}

export class NameTakenError extends Error {
  constructor(readonly machineName: string) {
    super(`you already have a machine named ${JSON.stringify(machineName)}`);
  }
}

export class InvalidStateError extends Error {
  constructor(
    readonly state: string,
    action: string,
  ) {
    super(`cannot ${action} a machine that is ${state}`);
  }
}
