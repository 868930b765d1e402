import { type FieldError, fieldPath } from "./fields.js";
import { MACHINE_STATES, type MachineState } from "./states.js";

/**
 * The kinds of value an event field holds. Each maps to a TypeScript type (FieldValue), a GraphQL
 * type (schema/vocabulary.ts) and a check of what an agent reports (checkPayload).
 */
export type FieldKind = "string" | "int" | "float" | "dateTime" | "strings" | "state" | "hostKeys";

export interface FieldSpec {
  kind: FieldKind;
  /** May be absent or null (lists: absent means empty). */
  optional?: true;
  description?: string;
}

export interface KindSpec {
  description: string;
  fields: Readonly<Record<string, FieldSpec>>;
}

export interface SshHostKey {
  type: string;
  fingerprintSha256: string;
  publicKey: string;
}

interface FieldValues {
  string: string;
  int: number;
  float: number;
  /** An ISO 8601 instant (payloads are JSON). */
  dateTime: string;
  strings: string[];
  state: MachineState;
  hostKeys: SshHostKey[];
}

type Value<F extends FieldSpec> = FieldValues[F["kind"]];
type RequiredKeys<Fields> = { [K in keyof Fields]: Fields[K] extends { optional: true } ? never : K }[keyof Fields];
type OptionalKeys<Fields> = Exclude<keyof Fields, RequiredKeys<Fields>>;

/** The stored payload of a kind with these fields. */
export type PayloadOf<Fields extends Readonly<Record<string, FieldSpec>>> = {
  [K in RequiredKeys<Fields>]: Value<Fields[K]>;
} & { [K in OptionalKeys<Fields>]?: Value<Fields[K]> | null };

/** Events of a vocabulary: one `{ kind, payload }` shape per kind. */
export type EventOf<V extends Readonly<Record<string, KindSpec>>> = {
  [K in keyof V & string]: { kind: K; payload: PayloadOf<V[K]["fields"]> };
}[keyof V & string];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function checkValue(kind: FieldKind, value: unknown): string | undefined {
  switch (kind) {
    case "string":
      return typeof value === "string" ? undefined : "must be a string";
    case "int":
      return Number.isSafeInteger(value) ? undefined : "must be an integer";
    case "float":
      return typeof value === "number" && Number.isFinite(value) ? undefined : "must be a number";
    case "dateTime":
      return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? undefined : "must be an ISO 8601 instant";
    case "strings":
      return Array.isArray(value) && value.every((v) => typeof v === "string")
        ? undefined
        : "must be a list of strings";
    case "state":
      return MACHINE_STATES.includes(value as MachineState) ? undefined : "must be a machine state";
    case "hostKeys":
      return Array.isArray(value) &&
        value.every(
          (k) =>
            isObject(k) &&
            typeof k.type === "string" &&
            typeof k.fingerprintSha256 === "string" &&
            typeof k.publicKey === "string",
        )
        ? undefined
        : "must be a list of { type, fingerprintSha256, publicKey }";
  }
}

/**
 * The offending fields of a payload for spec, as paths under `prefix` (empty: all good).
 * Fields the kind does not have are refused too: a payload is stored as it came.
 */
export function checkPayload(spec: KindSpec, payload: unknown, prefix = "payload"): FieldError[] {
  if (!isObject(payload)) return [{ field: prefix, message: "must be an object" }];
  const errors: FieldError[] = [];
  for (const [name, field] of Object.entries(spec.fields)) {
    const value = payload[name];
    if (value === undefined || value === null) {
      if (!field.optional) errors.push({ field: fieldPath(prefix, name), message: "is required" });
      continue;
    }
    const problem = checkValue(field.kind, value);
    if (problem) errors.push({ field: fieldPath(prefix, name), message: problem });
  }
  for (const name of Object.keys(payload)) {
    if (!(name in spec.fields)) errors.push({ field: fieldPath(prefix, name), message: "is not a field of this kind" });
  }
  return errors;
}
