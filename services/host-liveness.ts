import { canBeLost, stateChanged } from "../core/index.js";
import type { Db } from "../db/client.js";
import { appendEvent } from "../db/queries/events.js";
import { takeSilentHosts } from "../db/queries/hosts.js";
import { lockMachine } from "../db/queries/machines.js";

export interface LostHost {
  name: string;
  machineIds: string[];
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
    return silent.map(({ name, machineIds }) => ({ name, machineIds }));
  });
}
