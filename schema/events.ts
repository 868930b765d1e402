import { GraphQLError } from "graphql";
import { NotFoundError, ValidationError } from "../db/errors.js";
import {
  type AppendTarget,
  appendReported,
  type EventKind,
  eventsAfter,
  type NewEvent,
  type StoredEvent,
} from "../db/queries/events.js";
import { machineEventStream } from "../live/index.js";
import { builder, eventObjectType } from "./builder.js";
import { type Context, canSeeMachine } from "./context.js";
import { MachineRef, MachineStateEnum, SshHostKeyRef, visibleMachine } from "./machine.js";

type Payload<K extends EventKind> = Extract<NewEvent, { kind: K }>["payload"];
type EventOf<K extends EventKind> = StoredEvent & { payload: Payload<K> };

export const MachineEventInterface = builder.interfaceRef<StoredEvent>("MachineEvent").implement({
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

function eventType<K extends EventKind>(
  kind: K,
  description: string,
  fields: Parameters<typeof eventObjectType<EventOf<K>>>[3],
) {
  return eventObjectType<EventOf<K>>(kind, description, MachineEventInterface, fields);
}

eventType("MachineStateChanged", "The machine entered a new state", (t) => ({
  state: t.field({ type: MachineStateEnum, resolve: (e) => e.payload.state }),
  reason: t.string({ nullable: true, resolve: (e) => e.payload.reason ?? null }),
  lastConsoleLines: t.stringList({
    description: "On FAILED: the console's last lines",
    resolve: (e) => e.payload.lastConsoleLines ?? [],
  }),
}));
eventType("ConsoleOutput", "One line the machine printed on its console", (t) => ({
  text: t.string({ resolve: (e) => e.payload.text }),
}));
eventType("BootStageReached", "startenv finished a boot stage", (t) => ({
  stage: t.string({ resolve: (e) => e.payload.stage }),
  uptimeSeconds: t.float({ nullable: true, resolve: (e) => e.payload.uptimeSeconds ?? null }),
}));
eventType("DhcpLeaseAcquired", "The machine got an address from the LAN's DHCP server", (t) => ({
  ip: t.string({ resolve: (e) => e.payload.ip }),
  mac: t.string({ resolve: (e) => e.payload.mac }),
  leaseSeconds: t.int({ nullable: true, resolve: (e) => e.payload.leaseSeconds ?? null }),
}));
eventType("HomeMounted", "The owner's host home is mounted inside", (t) => ({
  path: t.string({ resolve: (e) => e.payload.path }),
}));
eventType("SshdStarted", "sshd started inside (not yet verified from outside)", (t) => ({
  port: t.int({ resolve: (e) => e.payload.port }),
}));
eventType("SshReady", "The host connected to ip:port and saw this machine's own host key", (t) => ({
  ip: t.string({ resolve: (e) => e.payload.ip }),
  port: t.int({ resolve: (e) => e.payload.port }),
  hostKeys: t.field({ type: [SshHostKeyRef], resolve: (e) => e.payload.hostKeys }),
}));
eventType("BootStepFailed", "A boot step failed inside the machine", (t) => ({
  step: t.string({ resolve: (e) => e.payload.step }),
  reason: t.string({ resolve: (e) => e.payload.reason }),
}));

export const EVENT_KINDS: EventKind[] = [
  "MachineStateChanged",
  "ConsoleOutput",
  "BootStageReached",
  "DhcpLeaseAcquired",
  "HomeMounted",
  "SshdStarted",
  "SshReady",
  "BootStepFailed",
];

function parseCursor(after: string | null | undefined): number {
  if (after == null || after === "") return 0;
  const seq = Number(after);
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new ValidationError([{ field: "after", message: "is not a cursor" }]);
  return seq;
}

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
      eventsAfter(ctx.db, machine.id, parseCursor(args.after), Math.min(Math.max(args.first ?? 500, 1), 5000)),
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
      return machineEventStream(ctx.db, ctx.notifier, machine.id, parseCursor(args.after));
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
      for (const e of events) {
        if (!EVENT_KINDS.includes(e.kind as EventKind)) {
          throw new GraphQLError(`unknown event kind ${e.kind}`, { extensions: { code: "BAD_USER_INPUT" } });
        }
      }
      // Each machine's events go in one transaction, in their order (a boot reports dozens at once,
      // interleaved with other machines'; only the order within a machine matters).
      const byMachine = new Map<string, typeof events>();
      for (const e of events) {
        const ofMachine = byMachine.get(e.machineId.id);
        if (ofMachine) ofMachine.push(e);
        else byMachine.set(e.machineId.id, [e]);
      }
      let stored = 0;
      for (const [id, ofMachine] of byMachine) {
        const items = ofMachine.map((e) => ({
          event: { kind: e.kind, payload: e.payload } as NewEvent,
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
        stored += appended.length;
      }
      return { stored, duplicates: events.length - stored };
    },
  }),
);
