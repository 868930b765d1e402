import type { InterfaceParam } from "@pothos/core";
import {
  DESIRED_STATES,
  type FieldSpec,
  type KindSpec,
  MACHINE_HEALTH,
  MACHINE_STATES,
  parseCursor,
  type SshHostKey,
  ValidationError,
} from "../core/index.js";
import { builder, type Types } from "./builder.js";

export const MachineStateEnum = builder.enumType("MachineState", { values: MACHINE_STATES });
export const DesiredStateEnum = builder.enumType("DesiredState", { values: DESIRED_STATES });
export const MachineHealthStatusEnum = builder.enumType("MachineHealthStatus", { values: MACHINE_HEALTH });

export const SshHostKeyRef = builder.objectRef<SshHostKey>("SshHostKey").implement({
  fields: (t) => ({
    type: t.exposeString("type"),
    fingerprintSha256: t.exposeString("fingerprintSha256"),
    publicKey: t.exposeString("publicKey"),
  }),
});

type Row = { payload: unknown };
type FieldBuilder = PothosSchemaTypes.ObjectFieldBuilder<Types, Row>;

/** One GraphQL field for a field of an event kind (core/vocabulary.ts), read from the stored payload. */
function eventField(t: FieldBuilder, name: string, spec: FieldSpec) {
  const value = (e: Row) => (e.payload as Record<string, unknown>)[name] ?? null;
  const common = { description: spec.description, nullable: spec.optional === true };
  switch (spec.kind) {
    case "string":
      return t.string({ ...common, resolve: (e) => value(e) as string });
    case "int":
      return t.int({ ...common, resolve: (e) => value(e) as number });
    case "float":
      return t.float({ ...common, resolve: (e) => value(e) as number });
    case "dateTime":
      return t.field({
        ...common,
        type: "DateTime",
        resolve: (e) => {
          const at = value(e);
          return (typeof at === "string" ? new Date(at) : null) as Date;
        },
      });
    case "strings":
      // Lists are never null: an absent one is empty.
      return t.stringList({ description: spec.description, resolve: (e) => (value(e) as string[] | null) ?? [] });
    case "state":
      return t.field({ ...common, type: MachineStateEnum, resolve: (e) => value(e) as never });
    case "hostKeys":
      return t.field({
        description: spec.description,
        type: [SshHostKeyRef],
        resolve: (e) => (value(e) as SshHostKey[] | null) ?? [],
      });
  }
}

/**
 * An object type per kind of a vocabulary, named as the kind, implementing the stream's
 * interface; fields the interface already has (`inherited`) are left to it.
 */
export function eventTypes(
  vocabulary: Readonly<Record<string, KindSpec>>,
  eventInterface: InterfaceParam<Types>,
  inherited: readonly string[] = [],
): void {
  for (const [kind, spec] of Object.entries(vocabulary)) {
    builder.objectRef<Row>(kind).implement({
      description: spec.description,
      interfaces: [eventInterface] as never,
      fields: (t) =>
        Object.fromEntries(
          Object.entries(spec.fields)
            .filter(([name]) => !inherited.includes(name))
            .map(([name, field]) => [name, eventField(t, name, field)]),
        ),
    });
  }
}

/** A stream's resume cursor argument, or a ValidationError naming it. */
export function cursorArg(after: string | null | undefined): number {
  const seq = parseCursor(after);
  if (seq === undefined) throw new ValidationError([{ field: "after", message: "is not a cursor" }]);
  return seq;
}
