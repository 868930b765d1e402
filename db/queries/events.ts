import { and, asc, eq, gt, inArray, param, sql } from "drizzle-orm";
import { changesOf, isUuid, type MachineEvent, type MachineState, NotFoundError } from "../../core/index.js";
import type { Db, Queryable, Tx } from "../client.js";
import { machineEvents, machines } from "../schema.js";
import { collectVersionRows } from "./images.js";

export const EVENTS_CHANNEL = "gaol_events";
export const MACHINES_CHANNEL = "gaol_machines";

export type StoredEvent = typeof machineEvents.$inferSelect;

/** One event to append, with the agent's sequence number when an agent reported it. */
interface EventToAppend {
  event: MachineEvent;
  agentSeq?: number;
  at?: Date;
}

/** The machine row an append may check before it writes (who may append to it). */
export type AppendTarget = Pick<typeof machines.$inferSelect, "ownerId" | "hostId" | "courseId">;

type Reader = Pick<Db, "select">;

/** The machine as an append needs it, and which of the items' agentSeqs it already has; read together. */
async function readForAppend(db: Reader, machineId: string, items: EventToAppend[], lock: boolean) {
  const agentSeqs = items.flatMap((i) => (i.agentSeq === undefined ? [] : [i.agentSeq]));
  const row = db
    .select({
      state: machines.state,
      lastEventSeq: machines.lastEventSeq,
      imageId: machines.imageId,
      ownerId: machines.ownerId,
      hostId: machines.hostId,
      courseId: machines.courseId,
    })
    .from(machines)
    .where(eq(machines.id, machineId));
  const [[machine], seenRows] = await Promise.all([
    lock ? row.for("update") : row,
    agentSeqs.length === 0
      ? []
      : db
          .select({ agentSeq: machineEvents.agentSeq })
          .from(machineEvents)
          .where(and(eq(machineEvents.machineId, machineId), inArray(machineEvents.agentSeq, agentSeqs))),
  ]);
  const seen = new Set<number>();
  for (const r of seenRows) if (r.agentSeq !== null) seen.add(r.agentSeq);
  return { machine, seen };
}

/**
 * What appending items writes: each event takes the next sequence number and applies what it
 * changes on the machine. An event whose agentSeq was already stored is skipped: a retried batch
 * is stored once. So is an agent's report of the state the machine already has (the api and the
 * agent may both say STOPPING or DESTROYED, and a re-adopting agent READY). A destroyed machine
 * stays destroyed: late reports still store, but change nothing.
 */
function planAppend(
  machineId: string,
  machine: { state: MachineState; lastEventSeq: number },
  seen: Set<number>,
  items: EventToAppend[],
) {
  let { state, lastEventSeq: seq } = machine;
  let changes: Partial<typeof machines.$inferInsert> = {};
  const rows: Array<typeof machineEvents.$inferInsert & { seq: number; at: Date }> = [];
  for (const { event, agentSeq, at = new Date() } of items) {
    if (agentSeq !== undefined) {
      if (seen.has(agentSeq)) continue;
      seen.add(agentSeq);
      if (event.kind === "MachineStateChanged" && event.payload.state === state) continue;
    }
    const changed = changesOf(state, event, at);
    changes = { ...changes, ...changed };
    state = changed.state ?? state;
    const payload = event.payload as Record<string, unknown>;
    rows.push({ machineId, seq: ++seq, kind: event.kind, payload, agentSeq, at });
  }
  return { rows, changes, seq, changed: Object.keys(changes).length > 0 };
}

/**
 * Appends events of one machine in tx, in order (see planAppend), in two round trips however
 * many there are: the machine row is locked (ordering concurrent appends) while the agentSeqs
 * already stored are read; then the machine row's update, the events and the notification
 * (ids only) go together, pipelined on the transaction's connection. A machine that is not
 * there or not `allowed` (checked on the locked row) is a NotFoundError, and nothing is written.
 */
async function appendEvents(
  tx: Tx,
  machineId: string,
  items: EventToAppend[],
  allowed: (machine: AppendTarget) => boolean = () => true,
): Promise<StoredEvent[]> {
  if (!isUuid(machineId)) throw new NotFoundError("machine");
  const { machine, seen } = await readForAppend(tx, machineId, items, true);
  if (!machine || !allowed(machine)) throw new NotFoundError("machine");
  const { rows, changes, seq, changed } = planAppend(machineId, machine, seen, items);
  const first = rows[0];
  if (!first) return [];
  // Independent statements: sent together, answered in order.
  const [, stored] = await Promise.all([
    tx
      .update(machines)
      .set({ ...changes, lastEventSeq: seq })
      .where(eq(machines.id, machineId)),
    tx.insert(machineEvents).values(rows).returning(),
    tx.execute(sql`select ${eventsNotification(machineId, first.seq)}`),
    changed ? notifyMachineChanged(tx, machineId) : undefined,
  ]);
  // A machine gone may free the last use of an old image version.
  if (changes.state === "DESTROYED" && machine.imageId) await collectVersionRows(tx, machine.imageId);
  return stored;
}

/** Optimistic tries before an append takes the machine row's lock first (appends racing for one machine). */
const OPTIMISTIC_ATTEMPTS = 2;

/**
 * appendEvents for an agent's report, in two round trips and no transaction held open: the
 * machine and the agentSeqs already stored are read, then a single statement writes the row's
 * update, the events and the notifications (all or nothing), and only if the machine's last
 * sequence number is still the one read (the update waits for any append holding the row).
 * After an append that came in between it is read and written again, and after a second one
 * it takes appendEvents' transaction, which locks the row first and cannot lose. So does a
 * report that destroys the machine (it also collects image versions).
 */
export async function appendReported(
  db: Db,
  machineId: string,
  items: EventToAppend[],
  allowed: (machine: AppendTarget) => boolean,
): Promise<StoredEvent[]> {
  if (!isUuid(machineId)) throw new NotFoundError("machine");
  const locked = () => db.transaction((tx) => appendEvents(tx, machineId, items, allowed));
  for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
    const { machine, seen } = await readForAppend(db, machineId, items, false);
    if (!machine || !allowed(machine)) throw new NotFoundError("machine");
    const { rows, changes, seq, changed } = planAppend(machineId, machine, seen, items);
    const first = rows[0];
    if (!first) return [];
    if (changes.state === "DESTROYED") return locked();
    // The row's update goes first and only if nobody appended since the read; the events only with it.
    const update = db
      .update(machines)
      .set({ ...changes, lastEventSeq: seq })
      .where(and(eq(machines.id, machineId), eq(machines.lastEventSeq, machine.lastEventSeq)))
      .returning({ id: machines.id });
    const values = sql.join(
      rows.map(
        (r) =>
          sql`(${r.seq}::integer, ${r.kind}, ${param(r.payload, machineEvents.payload)}::jsonb, ${r.agentSeq ?? null}::bigint, ${param(r.at, machineEvents.at)}::timestamptz)`,
      ),
      sql`, `,
    );
    const notifications = [eventsNotification(machineId, first.seq)];
    if (changed) notifications.push(machineNotification(machineId));
    // Identical notifications of one transaction are delivered once, however many rows select them.
    const written = await db.execute(sql`with m as (${update.getSQL()}),
      e as (insert into machine_events (machine_id, seq, kind, payload, agent_seq, at)
        select m.id, v.* from m, (values ${values}) as v(seq, kind, payload, agent_seq, at) returning id, seq)
      select e.id, e.seq, ${sql.join(notifications, sql`, `)} from e`);
    const ids = new Map(
      rowsOf<{ id: string | number; seq: number }>(written).map((r) => [Number(r.seq), Number(r.id)]),
    );
    // Nothing written: another append came first; read again.
    if (ids.size === rows.length)
      return rows.map((row) => ({ ...row, id: ids.get(row.seq) ?? 0, agentSeq: row.agentSeq ?? null }));
  }
  return locked();
}

/** The notification of a machine's new events: ids only, and the first new seq (a listener reads what follows what it has). */
function eventsNotification(machineId: string, firstSeq: number) {
  return sql`pg_notify(${EVENTS_CHANNEL}, ${`${machineId}:${firstSeq}`})`;
}

function machineNotification(machineId: string) {
  return sql`pg_notify(${MACHINES_CHANNEL}, ${machineId})`;
}

/** postgres-js answers execute() with the rows, PGlite with { rows }. */
function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : ((result as { rows?: T[] }).rows ?? [])) as T[];
}

/** Appends one event in tx (see appendEvents). */
export async function appendEvent(
  tx: Tx,
  machineId: string,
  event: MachineEvent,
  options: { agentSeq?: number; at?: Date } = {},
): Promise<StoredEvent | undefined> {
  const [stored] = await appendEvents(tx, machineId, [{ event, ...options }]);
  return stored;
}

/** Tells every api replica (and through the `machines` subscription, agents and portals) that a row changed. */
export async function notifyMachineChanged(tx: Tx, machineId: string): Promise<void> {
  await tx.execute(sql`select ${machineNotification(machineId)}`);
}

/** Up to limit events of a machine after sequence number afterSeq, in order. */
export async function eventsAfter(
  db: Queryable,
  machineId: string,
  afterSeq: number,
  limit: number,
): Promise<StoredEvent[]> {
  return db
    .select()
    .from(machineEvents)
    .where(and(eq(machineEvents.machineId, machineId), gt(machineEvents.seq, afterSeq)))
    .orderBy(asc(machineEvents.seq))
    .limit(limit);
}
