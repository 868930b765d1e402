/** Errors a caller caused: shown to them as typed values, never as bugs. */
export abstract class GaolError extends Error {
  abstract readonly code: string;
}

export interface FieldError {
  field: string;
  message: string;
}

export class ValidationError extends GaolError {
  readonly code = "VALIDATION";
  constructor(readonly fields: FieldError[]) {
    super(fields.map((f) => `${f.field}: ${f.message}`).join("; "));
  }
}

export class UnknownOwnerError extends GaolError {
  readonly code = "UNKNOWN_OWNER";
  constructor(readonly owner: string) {
    super(`no host account named ${JSON.stringify(owner)} can own a machine`);
  }
}

export class ImageNotFoundError extends GaolError {
  readonly code = "IMAGE_NOT_FOUND";
  constructor(readonly image: string) {
    super(`image ${JSON.stringify(image)} has no built version`);
  }
}

export class MachineExistsError extends GaolError {
  readonly code = "MACHINE_EXISTS";
  constructor(readonly machine: string) {
    super(`machine ${JSON.stringify(machine)} already exists on this host`);
  }
}

export class BootFailedError extends GaolError {
  readonly code = "BOOT_FAILED";
  constructor(
    message: string,
    readonly lastConsoleLines: string[],
  ) {
    super(message);
  }
}
