import { type MachineEvent, machineEvent } from "../../core/index.js";
import type { MachineRecord } from "../machine/record.js";
import { MachineCgroup } from "./cgroup.js";

const POLL_MS = 2000;
/** A fork bomb hits its limit thousands of times a second: say so at most this often per limit. */
const QUIET_MS = 30_000;

/**
 * Reads the machine's cgroup counters while it runs and reports a limit that stopped
 * it, so that a refused fork or allocation inside is an event, not a mystery.
 * Returns the function that stops watching.
 */
export function watchLimits(record: MachineRecord, emit: (event: MachineEvent) => void): () => void {
  const { limits } = record;
  if (!limits || !record.jailer) return () => undefined;
  const seen = { processes: 0, memory: 0 };
  const said = { processes: 0, memory: 0 };
  const max = { processes: limits.processes, memory: limits.memoryMiB };
  let cgroup: MachineCgroup | undefined;
  const poll = async () => {
    cgroup ??= await MachineCgroup.of(record.id);
    const hits = await cgroup.limitHits();
    for (const limit of ["processes", "memory"] as const) {
      if (hits[limit] <= seen[limit] || Date.now() - said[limit] < QUIET_MS) continue;
      seen[limit] = hits[limit];
      said[limit] = Date.now();
      emit(machineEvent("MachineLimitReached", { limit, count: hits[limit], max: max[limit] }));
    }
  };
  const timer = setInterval(() => void poll().catch(() => undefined), POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
