import { and, asc, count, eq, inArray, isNull, lt, ne, sql, sum } from "drizzle-orm";
import { canBeLost, MACHINE_STATES } from "../../core/index.js";
import type { Db, Tx } from "../client.js";
import { hosts, machines } from "../schema.js";

export type Host = typeof hosts.$inferSelect;

export async function listHosts(db: Db): Promise<Host[]> {
  return db.select().from(hosts).orderBy(asc(hosts.name));
}

/** Cordons (or uncordons) a host by name; undefined when there is none. */
export async function setCordoned(db: Db | Tx, name: string, cordoned: boolean): Promise<Host | undefined> {
  const [host] = await db
    .update(hosts)
    .set({ cordonedAt: cordoned ? new Date() : null })
    .where(eq(hosts.name, name))
    .returning();
  return host;
}

export async function hostById(db: Db, id: string): Promise<Host | undefined> {
  const [host] = await db.select().from(hosts).where(eq(hosts.id, id));
  return host;
}

/** The host an AGENT user speaks for. */
export async function hostOfAgent(db: Db, agentUserId: string): Promise<Host | undefined> {
  const [host] = await db.select().from(hosts).where(eq(hosts.agentUserId, agentUserId));
  return host;
}

/** An agent's heartbeat: what the host can hold, and that it is alive now. */
export async function heartbeat(
  db: Db,
  hostId: string,
  capacity: { memoryMiB: number; maxMachines: number; rootFreeMiB?: number | null },
) {
  const [host] = await db
    .update(hosts)
    .set({ ...capacity, lastHeartbeatAt: new Date(), downSince: null })
    .where(eq(hosts.id, hostId))
    .returning();
  return host as Host;
}

export async function hostUsage(db: Db, hostId: string) {
  const [usage] = await db
    .select({ machines: count(), memory: sum(machines.memoryMiB) })
    .from(machines)
    .where(and(eq(machines.hostId, hostId), ne(machines.state, "DESTROYED")));
  return { machines: usage?.machines ?? 0, memoryMiB: Number(usage?.memory ?? 0) };
}

/**
 * Hosts whose agent has been silent for more than seconds, marked down from now, each with the
 * machines whose kernel it may still run. A host is taken once: a replica racing this one waits
 * for the row and then finds it down already.
 */
export async function takeSilentHosts(tx: Tx, seconds: number) {
  const silent = await tx
    .update(hosts)
    .set({ downSince: sql`now()` })
    .where(and(isNull(hosts.downSince), lt(hosts.lastHeartbeatAt, sql`now() - make_interval(secs => ${seconds})`)))
    .returning({ id: hosts.id, name: hosts.name, lastHeartbeatAt: hosts.lastHeartbeatAt });
  if (silent.length === 0) return [];
  const placed = await tx
    .select({ id: machines.id, hostId: machines.hostId })
    .from(machines)
    .where(
      and(
        inArray(
          machines.hostId,
          silent.map((h) => h.id),
        ),
        inArray(machines.state, LOSABLE),
      ),
    );
  return silent.map((host) => ({ ...host, machineIds: placed.filter((m) => m.hostId === host.id).map((m) => m.id) }));
}

const LOSABLE = MACHINE_STATES.filter(canBeLost);
