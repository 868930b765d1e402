/** One offending input field, named by its path: `name`, `sshPublicKeys.0`, `events.3.payload.ip`. */
export interface FieldError {
  field: string;
  message: string;
}

/** The one path format for offending fields: segments joined by dots, list items by index. */
export function fieldPath(...segments: Array<string | number>): string {
  return segments.join(".");
}

/** The same errors, each under a parent path (a nested input's errors inside its list item). */
export function under(prefix: string, errors: FieldError[]): FieldError[] {
  return errors.map((e) => ({ field: fieldPath(prefix, e.field), message: e.message }));
}
