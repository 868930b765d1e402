import { and, asc, count, desc, eq, exists, gt, gte, isNull, ne, or, sql, sum } from "drizzle-orm";
import { HOST_DOWN_SECONDS, type HostLoad, isUuid, ROOT_MIN_FREE_MIB } from "../../core/index.js";
import type { Db, Queryable, Tx } from "../client.js";
import { hosts, machineEvents, machines, users } from "../schema.js";
import { notifyMachineChanged } from "./events.js";

export type Machine = typeof machines.$inferSelect;
type NewMachine = typeof machines.$inferInsert;

const live = ne(machines.state, "DESTROYED");

export async function machineById(db: Queryable, id: string): Promise<Machine | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db.select().from(machines).where(eq(machines.id, id));
  return row;
}

/** The machine, its row locked until the transaction ends. */
export async function lockMachine(tx: Tx, id: string): Promise<Machine | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await tx.select().from(machines).where(eq(machines.id, id)).for("update");
  return row;
}

/** Locks the user's row: their provisions are serialized, so quotas hold under races. */
export async function lockUser(tx: Tx, userId: string): Promise<void> {
  await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for("update");
}

/** How many live machines the owner has, and their memory. */
export async function ownerUsage(tx: Tx, ownerId: string): Promise<{ machines: number; memoryMiB: number }> {
  const [usage] = await tx
    .select({ machines: count(), memory: sum(machines.memoryMiB) })
    .from(machines)
    .where(and(eq(machines.ownerId, ownerId), live));
  return { machines: usage?.machines ?? 0, memoryMiB: Number(usage?.memory ?? 0) };
}

export async function liveMachineNamed(tx: Tx, ownerId: string, name: string): Promise<boolean> {
  const [taken] = await tx
    .select({ id: machines.id })
    .from(machines)
    .where(and(eq(machines.ownerId, ownerId), eq(machines.name, name), live));
  return taken !== undefined;
}

/**
 * Every live host (not down, and heard from within HOST_DOWN_SECONDS) with what its live machines take,
 * in a stable order; their rows are locked, so the last slot of a host goes to one machine only.
 */
export async function lockLiveHostLoads(tx: Db): Promise<HostLoad[]> {
  const candidates = await tx
    .select()
    .from(hosts)
    .where(
      and(
        gt(hosts.lastHeartbeatAt, sql`now() - make_interval(secs => ${HOST_DOWN_SECONDS})`),
        isNull(hosts.downSince),
        isNull(hosts.cordonedAt),
        // A host nearly out of disk would take the machine and fail it.
        or(isNull(hosts.rootFreeMiB), gte(hosts.rootFreeMiB, ROOT_MIN_FREE_MIB)),
      ),
    )
    .orderBy(asc(hosts.id))
    .for("update");
  const loads: HostLoad[] = [];
  for (const host of candidates) {
    const [load] = await tx
      .select({ machines: count(), memory: sum(machines.memoryMiB) })
      .from(machines)
      .where(and(eq(machines.hostId, host.id), live));
    loads.push({
      id: host.id,
      memoryMiB: host.memoryMiB,
      maxMachines: host.maxMachines,
      usedMemoryMiB: Number(load?.memory ?? 0),
      machineCount: load?.machines ?? 0,
    });
  }
  return loads;
}

/** The host's machines no agent has started (PENDING, not to be destroyed), locked. */
export async function pendingOnHost(tx: Tx, hostId: string): Promise<Machine[]> {
  return tx
    .select()
    .from(machines)
    .where(and(eq(machines.hostId, hostId), eq(machines.state, "PENDING"), ne(machines.desiredState, "DESTROYED")))
    .orderBy(asc(machines.createdAt))
    .for("update");
}

/** Places a machine no agent has started on another host; tells watchers (both hosts' agents). */
export async function movePending(tx: Tx, id: string, hostId: string): Promise<void> {
  await tx.update(machines).set({ hostId }).where(eq(machines.id, id));
  await notifyMachineChanged(tx, id);
}

export async function insertMachine(tx: Tx, values: NewMachine): Promise<Machine> {
  const [machine] = await tx.insert(machines).values(values).returning();
  return machine as Machine;
}

/** Records that the owner wants the machine gone. */
export async function markDestroyRequested(tx: Tx, id: string): Promise<void> {
  await tx.update(machines).set({ desiredState: "DESTROYED" }).where(eq(machines.id, id));
}

/** Raises the reboot generation the agent acts on, and tells watchers the row changed. */
export async function requestReboot(tx: Tx, id: string): Promise<Machine> {
  const [updated] = await tx
    .update(machines)
    .set({ rebootGeneration: sql`${machines.rebootGeneration} + 1` })
    .where(eq(machines.id, id))
    .returning();
  await notifyMachineChanged(tx, id);
  return updated as Machine;
}

/** A reboot onto a new root disk from the machine's image version: the reboot generation rises and is marked a reset. */
export async function requestReset(tx: Tx, id: string): Promise<Machine> {
  const [updated] = await tx
    .update(machines)
    .set({
      rebootGeneration: sql`${machines.rebootGeneration} + 1`,
      resetGeneration: sql`${machines.rebootGeneration} + 1`,
    })
    .where(eq(machines.id, id))
    .returning();
  await notifyMachineChanged(tx, id);
  return updated as Machine;
}

/** The keys that may log in; tells watchers (its agent writes them into the running machine). */
export async function setSshPublicKeys(tx: Tx, id: string, keys: string[]): Promise<Machine> {
  const [updated] = await tx.update(machines).set({ sshPublicKeys: keys }).where(eq(machines.id, id)).returning();
  await notifyMachineChanged(tx, id);
  return updated as Machine;
}

/** Lets the course's staff type in the machine's screens (or only watch again). */
export async function setScreenShared(tx: Tx, id: string, shared: boolean): Promise<Machine> {
  const [updated] = await tx
    .update(machines)
    .set({ screenSharedAt: shared ? new Date() : null })
    .where(eq(machines.id, id))
    .returning();
  await notifyMachineChanged(tx, id);
  return updated as Machine;
}

/** The filter's machines that may have changed since: every one not DESTROYED, and those with an event since. */
export async function machineIdsChangedSince(
  db: Queryable,
  filter: { ownerId?: string; hostId?: string },
  since: Date,
): Promise<string[]> {
  const rows = await db
    .select({ id: machines.id })
    .from(machines)
    .where(
      and(
        filter.ownerId ? eq(machines.ownerId, filter.ownerId) : undefined,
        filter.hostId ? eq(machines.hostId, filter.hostId) : undefined,
        or(
          live,
          exists(
            db
              .select({ one: sql`1` })
              .from(machineEvents)
              .where(and(eq(machineEvents.machineId, machines.id), gt(machineEvents.at, since))),
          ),
        ),
      ),
    );
  return rows.map((r) => r.id);
}

/** A page of machines, by owner, host or course (or all), newest first. */
export async function listMachines(
  db: Queryable,
  filter: { ownerId?: string; hostId?: string; courseId?: string; live?: boolean },
  offset: number,
  limit: number,
) {
  return db
    .select()
    .from(machines)
    .where(
      and(
        filter.ownerId ? eq(machines.ownerId, filter.ownerId) : undefined,
        filter.hostId ? eq(machines.hostId, filter.hostId) : undefined,
        filter.courseId ? eq(machines.courseId, filter.courseId) : undefined,
        filter.live ? live : undefined,
      ),
    )
    .orderBy(desc(machines.createdAt), desc(machines.id))
    .offset(offset)
    .limit(limit);
}
