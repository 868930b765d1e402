import { and, asc, count, desc, eq, gt, ne, sql, sum } from "drizzle-orm";
import type { Db } from "../client.js";
import {
  ImageNotFoundError,
  InvalidStateError,
  NameTakenError,
  NoCapacityError,
  NotFoundError,
  QuotaExceededError,
} from "../errors.js";
import { hosts, images, machines, users } from "../schema.js";
import { generateName, isUuid, type ProvisionInput, validateProvision } from "../validate.js";
import { appendEvent, notifyMachineChanged } from "./events.js";
import { defaultVersion, hostsHolding } from "./images.js";
import type { User } from "./users.js";

export type Machine = typeof machines.$inferSelect;
export const DEFAULT_IMAGE = "debian";
/** A host whose agent has not been heard from for this long gets no new machines. */
export const HOST_LIVENESS_SECONDS = 60;

const live = ne(machines.state, "DESTROYED");

/**
 * Records a new machine for owner: validated, within quotas, on a live host
 * with room, with a PENDING event. The owner's row lock serializes their
 * provisions (quotas) and host row locks serialize placement (the last slot
 * goes to one machine only).
 */
export async function provisionMachine(db: Db, owner: User, input: ProvisionInput): Promise<Machine> {
  const valid = validateProvision(input);
  return db.transaction(async (tx) => {
    await tx.select({ id: users.id }).from(users).where(eq(users.id, owner.id)).for("update");
    const imageName = valid.image ?? DEFAULT_IMAGE;
    const [image] = await tx.select().from(images).where(eq(images.name, imageName));
    if (!image) throw new ImageNotFoundError(imageName);

    const [usage] = await tx
      .select({ machines: count(), memory: sum(machines.memoryMiB) })
      .from(machines)
      .where(and(eq(machines.ownerId, owner.id), live));
    const used = { machines: usage?.machines ?? 0, memory: Number(usage?.memory ?? 0) };
    if (used.machines + 1 > owner.maxMachines) {
      throw new QuotaExceededError("machines", owner.maxMachines, used.machines + 1);
    }
    if (used.memory + valid.memoryMiB > owner.maxMemoryMiB) {
      throw new QuotaExceededError("memoryMiB", owner.maxMemoryMiB, used.memory + valid.memoryMiB);
    }

    const name = valid.name ?? generateName();
    const [taken] = await tx
      .select({ id: machines.id })
      .from(machines)
      .where(and(eq(machines.ownerId, owner.id), eq(machines.name, name), live));
    if (taken) throw new NameTakenError(name);

    const version = valid.imageVersion ?? (await defaultVersion(tx as unknown as Db, image.id));
    const holders =
      version === undefined ? new Set<string>() : await hostsHolding(tx as unknown as Db, image.id, version);
    if (valid.imageVersion !== undefined && holders.size === 0) throw new ImageNotFoundError(`${imageName}@${version}`);
    // A host that holds the version first; without one, any host with room boots its own newest.
    const hostId =
      (await placeMachine(tx as unknown as Db, valid.memoryMiB, holders).catch((error) => {
        if (valid.imageVersion !== undefined || !(error instanceof NoCapacityError)) throw error;
        return undefined;
      })) ?? (await placeMachine(tx as unknown as Db, valid.memoryMiB));
    const [machine] = await tx
      .insert(machines)
      .values({
        name,
        ownerId: owner.id,
        hostId,
        imageId: image.id,
        imageVersion: version !== undefined && holders.has(hostId) ? version : null,
        memoryMiB: valid.memoryMiB,
        sshPublicKeys: valid.sshPublicKeys,
      })
      .returning();
    const created = machine as Machine;
    await appendEvent(tx, created.id, { kind: "MachineStateChanged", payload: { state: "PENDING" } });
    return { ...created, lastEventSeq: 1 };
  });
}

/** The live host (among only, when given) with the most free memory that fits memoryMiB and has a free slot; locks it. */
async function placeMachine(tx: Db, memoryMiB: number, only?: ReadonlySet<string>): Promise<string> {
  const candidates = await tx
    .select()
    .from(hosts)
    .where(gt(hosts.lastHeartbeatAt, sql`now() - make_interval(secs => ${HOST_LIVENESS_SECONDS})`))
    .orderBy(asc(hosts.id))
    .for("update");
  let best: { id: string; free: number } | undefined;
  for (const host of candidates) {
    if (only && !only.has(host.id)) continue;
    const [load] = await tx
      .select({ machines: count(), memory: sum(machines.memoryMiB) })
      .from(machines)
      .where(and(eq(machines.hostId, host.id), live));
    const free = host.memoryMiB - Number(load?.memory ?? 0);
    const slots = host.maxMachines - (load?.machines ?? 0);
    if (free >= memoryMiB && slots > 0 && (!best || free > best.free)) best = { id: host.id, free };
  }
  if (!best) throw new NoCapacityError(memoryMiB);
  return best.id;
}

export async function machineById(db: Db, id: string): Promise<Machine | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db.select().from(machines).where(eq(machines.id, id));
  return row;
}

/** A page of machines, by owner or host or all, newest first. */
export async function listMachines(
  db: Db,
  filter: { ownerId?: string; hostId?: string; live?: boolean },
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
        filter.live ? ne(machines.state, "DESTROYED") : undefined,
      ),
    )
    .orderBy(desc(machines.createdAt), desc(machines.id))
    .offset(offset)
    .limit(limit);
}

/**
 * Asks for the machine to be destroyed. Idempotent. A machine no host has
 * taken is destroyed at once; otherwise its agent tears it down.
 */
export async function destroyMachine(db: Db, id: string): Promise<Machine> {
  return db.transaction(async (tx) => {
    const [machine] = await tx.select().from(machines).where(eq(machines.id, id)).for("update");
    if (!machine) throw new NotFoundError("machine");
    if (machine.state === "DESTROYED" || machine.desiredState === "DESTROYED") return machine;
    await tx.update(machines).set({ desiredState: "DESTROYED" }).where(eq(machines.id, id));
    const next = machine.state === "PENDING" || machine.state === "FAILED" ? "DESTROYED" : "STOPPING";
    await appendEvent(tx, id, { kind: "MachineStateChanged", payload: { state: next, reason: "destroy requested" } });
    const [updated] = await tx.select().from(machines).where(eq(machines.id, id));
    return updated as Machine;
  });
}

/** Asks the agent to reboot a running machine. */
export async function rebootMachine(db: Db, id: string): Promise<Machine> {
  return db.transaction(async (tx) => {
    const [machine] = await tx.select().from(machines).where(eq(machines.id, id)).for("update");
    if (!machine) throw new NotFoundError("machine");
    if (machine.state !== "READY" && machine.state !== "RUNNING") throw new InvalidStateError(machine.state, "reboot");
    const [updated] = await tx
      .update(machines)
      .set({ rebootGeneration: sql`${machines.rebootGeneration} + 1` })
      .where(eq(machines.id, id))
      .returning();
    await notifyMachineChanged(tx, id);
    return updated as Machine;
  });
}
