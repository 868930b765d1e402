import { NoCapacityError, QuotaExceededError } from "./errors.js";

/** What a live host offers and what its live machines already take. */
export interface HostLoad {
  id: string;
  memoryMiB: number;
  maxMachines: number;
  usedMemoryMiB: number;
  machineCount: number;
}

/**
 * Where a machine of memoryMiB goes: the host (among `only`, when given) with the most free
 * memory that fits it and has a free slot. Ties go to the first in the list, so a caller that
 * lists hosts in a stable order places the same way every time.
 */
export function choosePlacement(hosts: readonly HostLoad[], memoryMiB: number, only?: ReadonlySet<string>): string {
  let best: { id: string; free: number } | undefined;
  for (const host of hosts) {
    if (only && !only.has(host.id)) continue;
    const free = host.memoryMiB - host.usedMemoryMiB;
    const slots = host.maxMachines - host.machineCount;
    if (free >= memoryMiB && slots > 0 && (!best || free > best.free)) best = { id: host.id, free };
  }
  if (!best) throw new NoCapacityError(memoryMiB);
  return best.id;
}

/** Throws QuotaExceededError when one more machine of memoryMiB would take the owner past a quota. */
export function checkQuota(
  quota: { maxMachines: number; maxMemoryMiB: number },
  used: { machines: number; memoryMiB: number },
  memoryMiB: number,
): void {
  if (used.machines + 1 > quota.maxMachines) {
    throw new QuotaExceededError("machines", quota.maxMachines, used.machines + 1);
  }
  if (used.memoryMiB + memoryMiB > quota.maxMemoryMiB) {
    throw new QuotaExceededError("memoryMiB", quota.maxMemoryMiB, used.memoryMiB + memoryMiB);
  }
}
