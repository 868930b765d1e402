import { canBeLost, choosePlacement, type HostLoad, NoCapacityError, stateChanged } from "../core/index.js";
import type { Db, Tx } from "../db/client.js";
import { appendEvent } from "../db/queries/events.js";
import { takeSilentHosts } from "../db/queries/hosts.js";
import { hostsHolding } from "../db/queries/images.js";
import { lockLiveHostLoads, lockMachine, movePending, pendingOnHost } from "../db/queries/machines.js";

export interface LostHost {
  name: string;
  machineIds: string[];
  /** PENDING machines placed on another live host instead. */
  moved: string[];
}

/**
 * Marks each host whose agent has been silent for more than downSeconds as down, and each machine
 * its kernel may still run on it LOST, with the reason the owner reads. Idempotent (every replica
 * runs it); the agent, heard from again, reports what it really finds, and the host is up.
 */
export async function markSilentHosts(db: Db, downSeconds: number): Promise<LostHost[]> {
  return db.transaction(async (tx) => {
    const silent = await takeSilentHosts(tx, downSeconds);
    for (const host of silent) {
      const reason = `its host ${host.name} has not been heard from for ${downSeconds} s (since ${host.lastHeartbeatAt?.toISOString()}): what runs there is not known until its agent is back`;
      for (const id of host.machineIds) {
        // A report that came since the read may have ended it (DESTROYED, FAILED): then it is not lost.
        const machine = await lockMachine(tx, id);
        if (machine && canBeLost(machine.state)) await appendEvent(tx, id, stateChanged("LOST", reason));
      }
    }
    const moved = new Map<string, string[]>();
    for (const host of silent) moved.set(host.id, await placeElsewhere(tx, host));
    return silent.map(({ id, name, machineIds }) => ({ name, machineIds, moved: moved.get(id) ?? [] }));
  });
}

/**
 * Machines placed on the silent host that its agent never reported starting: nothing of them
 * exists yet, so they go to the live host with the most room (one that holds a pinned image
 * version), as a new request would. Without room anywhere they wait for their host.
 */
async function placeElsewhere(tx: Tx, host: { id: string; name: string }): Promise<string[]> {
  const pending = await pendingOnHost(tx, host.id);
  if (pending.length === 0) return [];
  // The silent host is down in this transaction already: it is not among these.
  const loads: HostLoad[] = await lockLiveHostLoads(tx);
  const moved: string[] = [];
  for (const machine of pending) {
    const holders =
      machine.imageVersion === null ? undefined : await hostsHolding(tx, machine.imageId, machine.imageVersion);
    let to: string;
    try {
      to = choosePlacement(loads, machine.memoryMiB, holders);
    } catch (error) {
      if (error instanceof NoCapacityError) continue;
      throw error;
    }
    const load = loads.find((l) => l.id === to) as HostLoad;
    load.usedMemoryMiB += machine.memoryMiB;
    load.machineCount += 1;
    await movePending(tx, machine.id, to);
    await appendEvent(
      tx,
      machine.id,
      stateChanged("PENDING", `its host ${host.name} went silent before starting it: placed on another host`),
    );
    moved.push(machine.id);
  }
  return moved;
}
