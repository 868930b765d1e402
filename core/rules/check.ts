import { ValidationError } from "../errors.js";
import type { FieldError } from "../fields.js";

/** A rule: undefined when the value is acceptable, otherwise what is wrong with it (said of the field). */
export type Rule<T> = (value: T) => string | undefined;

/** Collects offending fields; `throwIfAny` reports all of them at once. */
export class FieldErrors {
  readonly errors: FieldError[] = [];

  check<T>(field: string, value: T, rule: Rule<T>): this {
    const message = rule(value);
    if (message !== undefined) this.errors.push({ field, message });
    return this;
  }

  add(...errors: FieldError[]): this {
    this.errors.push(...errors);
    return this;
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw new ValidationError(this.errors);
  }
}

/** The field errors of what fn threw, when it threw a ValidationError (others go on up). */
export function errorsOf(fn: () => unknown): FieldError[] {
  try {
    fn();
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return error.fields;
    throw error;
  }
}
