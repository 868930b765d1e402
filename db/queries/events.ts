import { and, asc, eq, gt, inArray, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { NotFoundError } from "../errors.js";
import { machineEvents, machines, type SshHostKeyRow } from "../schema.js";
import { isUuid } from "../validate.js";
import { collectVersionRows } from "./images.js";

export const EVENTS_CHANNEL = "gaol_events";
export const MACHINES_CHANNEL = "gaol_machines";

export type MachineState = (typeof machines.$inferSelect)["state"];

/** Every event kind, named as its GraphQL type, with the payload it stores. */
export interface EventPayloads {
  MachineStateChanged: { state: MachineState; reason?: string | null; lastConsoleLines?: string[] };
  ConsoleOutput: { text: string };
  BootStageReached: { stage: string; uptimeSeconds?: number | null };
  DhcpLeaseAcquired: { ip: string; mac: string; leaseSeconds?: number | null };
  HomeMounted: { path: string };
  SshdStarted: { port: number };
  SshReady: { ip: string; port: number; hostKeys: SshHostKeyRow[] };
  BootStepFailed: { step: string; reason: string };
}
export type EventKind = keyof EventPayloads;
export type NewEvent = { [K in EventKind]: { kind: K; payload: EventPayloads[K] } }[EventKind];

export type StoredEvent = typeof machineEvents.$inferSelect;

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** What an event changes on its machine's row. */
function machineChanges(event: NewEvent, at: Date): Partial<typeof machines.$inferInsert> {
  switch (event.kind) {
    case "MachineStateChanged": {
      const { state, reason } = event.payload;
      return {
        state,
        stateReason: reason ?? null,
        ...(state === "READY" ? { readyAt: at } : {}),
        ...(state === "DESTROYED" ? { destroyedAt: at } : {}),
      };
    }
    case "DhcpLeaseAcquired":
      // The address becomes the machine's only once ssh there proves it (SshReady): a guest can print anything.
      return { macAddress: event.payload.mac };
    case "SshReady":
      return { ipAddress: event.payload.ip, sshHostKeys: event.payload.hostKeys };
    default:
      return {};
  }
}

/** One event to append, with the agent's sequence number when an agent reported it. */
export interface EventToAppend {
  event: NewEvent;
  agentSeq?: number;
  at?: Date;
}

/** The locked machine row an append may check before it writes (who may append to it). */
export type AppendTarget = Pick<typeof machines.$inferSelect, "ownerId" | "hostId">;

/**
 * Appends events of one machine in tx, in order, in two round trips however many there
 * are: the machine row is locked (ordering concurrent appends) while the agentSeqs already
 * stored are read; then the machine row's update, the events and the notification (ids
 * only) go together, pipelined on the transaction's connection. Each event takes the next
 * sequence number and applies what it changes on the machine. An event whose agentSeq was
 * already stored is skipped: a retried batch is stored once. So is an agent's report of the
 * state the machine already has (the api and the agent may both say STOPPING or DESTROYED,
 * and a re-adopting agent READY). A destroyed machine stays destroyed: late reports still
 * store, but change nothing. A machine that is not there or not `allowed` (checked on the
 * locked row) is a NotFoundError, and nothing is written.
 */
export async function appendEvents(
  tx: Tx,
  machineId: string,
  items: EventToAppend[],
  allowed: (machine: AppendTarget) => boolean = () => true,
): Promise<StoredEvent[]> {
  if (!isUuid(machineId)) throw new NotFoundError("machine");
  const agentSeqs = items.flatMap((i) => (i.agentSeq === undefined ? [] : [i.agentSeq]));
  const [[machine], seenRows] = await Promise.all([
    tx
      .select({
        state: machines.state,
        lastEventSeq: machines.lastEventSeq,
        imageId: machines.imageId,
        ownerId: machines.ownerId,
        hostId: machines.hostId,
      })
      .from(machines)
      .where(eq(machines.id, machineId))
      .for("update"),
    agentSeqs.length === 0
      ? []
      : tx
          .select({ agentSeq: machineEvents.agentSeq })
          .from(machineEvents)
          .where(and(eq(machineEvents.machineId, machineId), inArray(machineEvents.agentSeq, agentSeqs))),
  ]);
  if (!machine || !allowed(machine)) throw new NotFoundError("machine");
  const seen = new Set<number>();
  for (const row of seenRows) if (row.agentSeq !== null) seen.add(row.agentSeq);
  let { state, lastEventSeq: seq } = machine;
  let changes: Partial<typeof machines.$inferInsert> = {};
  const rows: Array<typeof machineEvents.$inferInsert> = [];
  for (const { event, agentSeq, at = new Date() } of items) {
    if (agentSeq !== undefined) {
      if (seen.has(agentSeq)) continue;
      seen.add(agentSeq);
      if (event.kind === "MachineStateChanged" && event.payload.state === state) continue;
    }
    if (state !== "DESTROYED") {
      const changed = machineChanges(event, at);
      changes = { ...changes, ...changed };
      state = changed.state ?? state;
    }
    const payload = event.payload as Record<string, unknown>;
    rows.push({ machineId, seq: ++seq, kind: event.kind, payload, agentSeq, at });
  }
  const first = rows[0];
  if (!first) return [];
  const changed = Object.keys(changes).length > 0;
  // Independent statements: sent together, answered in order.
  const [, stored] = await Promise.all([
    tx
      .update(machines)
      .set({ ...changes, lastEventSeq: seq })
      .where(eq(machines.id, machineId)),
    tx.insert(machineEvents).values(rows).returning(),
    // The first new seq: a listener reads everything after what it has.
    tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${`${machineId}:${first.seq}`})`),
    changed ? notifyMachineChanged(tx, machineId) : undefined,
  ]);
  // A machine gone may free the last use of an old image version.
  if (changes.state === "DESTROYED" && machine.imageId) await collectVersionRows(tx as unknown as Db, machine.imageId);
  return stored;
}

/** Appends one event in tx (see appendEvents). */
export async function appendEvent(
  tx: Tx,
  machineId: string,
  event: NewEvent,
  options: { agentSeq?: number; at?: Date } = {},
): Promise<StoredEvent | undefined> {
  const [stored] = await appendEvents(tx, machineId, [{ event, ...options }]);
  return stored;
}

/** Tells every api replica (and through the `machines` subscription, agents and portals) that a row changed. */
export async function notifyMachineChanged(tx: Tx, machineId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${MACHINES_CHANNEL}, ${machineId})`);
}

/** Up to limit events of a machine after sequence number afterSeq, in order. */
export async function eventsAfter(db: Db, machineId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  return db
    .select()
    .from(machineEvents)
    .where(and(eq(machineEvents.machineId, machineId), gt(machineEvents.seq, afterSeq)))
    .orderBy(asc(machineEvents.seq))
    .limit(limit);
}
