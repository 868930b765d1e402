import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { machineEvents, machines, type SshHostKeyRow } from "../schema.js";
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

/**
 * Appends one event in tx: takes the machine's next sequence number (the row
 * lock orders concurrent appends), applies what the event changes on the
 * machine, and notifies listeners with ids only. An event whose agentSeq was
 * already stored is skipped: a retried batch is stored once.
 */
export async function appendEvent(
  tx: Tx,
  machineId: string,
  event: NewEvent,
  options: { agentSeq?: number; at?: Date } = {},
): Promise<StoredEvent | undefined> {
  if (options.agentSeq !== undefined) {
    const [seen] = await tx
      .select({ id: machineEvents.id })
      .from(machineEvents)
      .where(and(eq(machineEvents.machineId, machineId), eq(machineEvents.agentSeq, options.agentSeq)));
    if (seen) return undefined;
  }
  const at = options.at ?? new Date();
  const [current] = await tx.select({ state: machines.state }).from(machines).where(eq(machines.id, machineId));
  // The api and the agent may both say STOPPING or DESTROYED, and a re-adopting agent READY: an agent's report
  // of the state the machine already has is not stored again.
  const repeated = event.kind === "MachineStateChanged" && current?.state === event.payload.state;
  if (repeated && options.agentSeq !== undefined) return undefined;
  // A destroyed machine stays destroyed: late reports of an agent still store, but change nothing.
  const changes = current?.state === "DESTROYED" ? {} : machineChanges(event, at);
  const [machine] = await tx
    .update(machines)
    .set({ ...changes, lastEventSeq: sql`${machines.lastEventSeq} + 1` })
    .where(eq(machines.id, machineId))
    .returning({ seq: machines.lastEventSeq, imageId: machines.imageId });
  if (!machine) throw new Error(`machine ${machineId} does not exist`);
  const [stored] = await tx
    .insert(machineEvents)
    .values({
      machineId,
      seq: machine.seq,
      kind: event.kind,
      payload: event.payload as Record<string, unknown>,
      agentSeq: options.agentSeq,
      at,
    })
    .returning();
  await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${`${machineId}:${machine.seq}`})`);
  // A machine gone may free the last use of an old image version.
  if (changes.state === "DESTROYED" && machine.imageId) await collectVersionRows(tx as unknown as Db, machine.imageId);
  if (Object.keys(changes).length > 0) await notifyMachineChanged(tx, machineId);
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
