import { machineGlobalId } from "../../agent/api/ids.js";
import type { ApiMachine } from "../../agent/reconciler.js";

/** A machine as the api hands it to an agent: PENDING, wanted RUNNING, the defaults everywhere. */
export function apiMachine(id: string, fields: Partial<ApiMachine> = {}): ApiMachine {
  return {
    id: machineGlobalId(id),
    name: id,
    state: "PENDING",
    desiredState: "RUNNING",
    rebootGeneration: 0,
    resetGeneration: 0,
    memoryMiB: 256,
    limits: { processes: 1024, cpuWeight: 100, cpuPercent: null },
    sshPublicKeys: [],
    ipAddress: null,
    imageVersion: null,
    owner: { name: "ann", hostUser: "ann" },
    image: { name: "debian" },
    pendingCheck: null,
    ...fields,
  };
}
