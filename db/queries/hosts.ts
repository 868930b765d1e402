import { and, asc, count, eq, ne, sum } from "drizzle-orm";
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
export async function heartbeat(db: Db, hostId: string, capacity: { memoryMiB: number; maxMachines: number }) {
  const [host] = await db
    .update(hosts)
    .set({ ...capacity, lastHeartbeatAt: new Date() })
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
