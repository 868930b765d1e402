import { GraphQLError } from "graphql";
import { API_ONLY_KINDS, MACHINE_EVENTS, NotFoundError, parseMachineEvent, ValidationError } from "../core/index.js";
import { type AppendTarget, appendReported, eventsAfter, type StoredEvent } from "../db/queries/events.js";
import { machineEventStream } from "../live/index.js";
import { builder } from "./builder.js";
import { type Context, canSeeMachine } from "./context.js";
import { MachineRef, visibleMachine } from "./machine.js";
import { cursorArg, eventTypes } from "./vocabulary.js";

const MachineEventInterface = builder.interfaceRef<StoredEvent>("MachineEvent").implement({
  description: "Something that happened to a machine; `cursor` resumes a stream right after it",
  resolveType: (event) => event.kind,
  fields: (t) => ({
    cursor: t.string({ resolve: (e) => String(e.seq) }),
    at: t.expose("at", { type: "DateTime" }),
    machine: t.field({
      type: MachineRef,
      resolve: async (e, _args, ctx) => (await visibleMachine(ctx, e.machineId)) as never,
    }),
  }),
});

eventTypes(MACHINE_EVENTS, MachineEventInterface);

async function machineOrFail(ctx: Context, id: string) {
  return (await visibleMachine(ctx, id)) ?? notFound();
}

/** Top-level, like any authorization failure: the same answer for "not yours" and "no such machine". */
function notFound(): never {
  throw new GraphQLError("machine not found", { extensions: { code: "NOT_FOUND" } });
}

builder.objectField(MachineRef, "events", (t) =>
  t.field({
    type: [MachineEventInterface],
    description: "Stored events after the cursor, oldest first",
    args: { after: t.arg.string({ required: false }), first: t.arg.int({ required: false }) },
    resolve: (machine, args, ctx) =>
      eventsAfter(ctx.db, machine.id, cursorArg(args.after), Math.min(Math.max(args.first ?? 500, 1), 5000)),
  }),
);

builder.subscriptionField("machineEvents", (t) =>
  t.field({
    type: MachineEventInterface,
    description: "The machine's events after `after`: the stored backlog, then live; no gaps, no repeats",
    authScopes: { loggedIn: true },
    args: {
      machineId: t.arg.globalID({ required: true, for: [MachineRef] }),
      after: t.arg.string({ required: false }),
    },
    // Checked before the stream starts, so refusal is an error of the subscribe call itself.
    subscribe: async (_root, args, ctx) => {
      const machine = await machineOrFail(ctx, args.machineId.id);
      return machineEventStream(ctx.db, ctx.notifier, machine.id, cursorArg(args.after));
    },
    resolve: (event) => event,
  }),
);

const MachineEventInput = builder.inputType("MachineEventInput", {
  fields: (t) => ({
    machineId: t.globalID({ required: true, for: [MachineRef] }),
    agentSeq: t.int({ required: true, description: "The agent's own increasing sequence: retries are stored once" }),
    at: t.field({ type: "DateTime", required: false }),
    kind: t.string({ required: true, description: "A MachineEvent type name" }),
    payload: t.field({ type: "JSON", required: true }),
  }),
});

const ReportEventsPayload = builder
  .objectRef<{ stored: number; duplicates: number }>("ReportMachineEventsPayload")
  .implement({
    fields: (t) => ({ stored: t.exposeInt("stored"), duplicates: t.exposeInt("duplicates") }),
  });

builder.mutationField("reportMachineEvents", (t) =>
  t.field({
    type: ReportEventsPayload,
    description: "AGENT: append events of this host's machines, in order; idempotent by agentSeq",
    authScopes: { agent: true },
    args: { events: t.arg({ type: [MachineEventInput], required: true }) },
    resolve: async (_root, { events }, ctx) => {
      // Checked against the vocabulary before anything is stored: a payload is stored as it came.
      const parsed = events.map((e, i) => {
        const result = API_ONLY_KINDS.has(e.kind as never)
          ? { errors: [{ field: `events.${i}.kind`, message: "is the api's own kind, not an agent's" }] }
          : parseMachineEvent(e.kind, e.payload, `events.${i}`);
        if ("errors" in result) {
          const { message, fields } = new ValidationError(result.errors);
          throw new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT", fields } });
        }
        return { ...e, event: result.event };
      });
      // Each machine's events go in one transaction, in their order (a boot reports dozens at once,
      // interleaved with other machines'; only the order within a machine matters).
      const byMachine = new Map<string, typeof parsed>();
      for (const e of parsed) {
        const ofMachine = byMachine.get(e.machineId.id);
        if (ofMachine) ofMachine.push(e);
        else byMachine.set(e.machineId.id, [e]);
      }
      let stored = 0;
      for (const [id, ofMachine] of byMachine) {
        const items = ofMachine.map((e) => ({
          event: e.event,
          agentSeq: e.agentSeq,
          at: e.at ?? undefined,
        }));
        // Checked on the row the append reads anyway: one round trip less than reading it first.
        const visible = (machine: AppendTarget) => canSeeMachine(ctx, machine);
        const appended = await appendReported(ctx.db, id, items, visible).catch((error: unknown) =>
          error instanceof NotFoundError ? notFound() : Promise.reject(error),
        );
        // Committed: this replica's subscribers have them now, the others through the notification.
        ctx.notifier.deliver(id, appended);
        ctx.observeEvents?.(id, appended);
        stored += appended.length;
      }
      return { stored, duplicates: events.length - stored };
    },
  }),
);
