/** What a machine's kernel may take from its host, enforced by its cgroup and its jail. */
export interface MachineLimits {
  /** Host memory for the kernel process: the guest's memory plus the kernel's own (page tables, stacks). */
  memoryMiB: number;
  /** Host processes: UML makes one per guest address space, so a fork bomb inside stops here. */
  processes: number;
  /** CPU share against other machines (1–10000, everyone's default 100): a busy one cannot starve a boot. */
  cpuWeight: number;
  /** At most this percentage of one CPU; absent: no cap beyond the weight. */
  cpuPercent?: number;
}

export const DEFAULT_LIMITS = { processes: 1024, cpuWeight: 100 } as const;

/** What a request may ask for: fewer processes or more, a smaller share than everyone's, a cap. */
export const LIMIT_BOUNDS = {
  processes: { min: 32, max: 4096 },
  cpuWeight: { min: 1, max: DEFAULT_LIMITS.cpuWeight },
  cpuPercent: { min: 1, max: 100 },
} as const;

export type LimitRequest = Partial<Omit<MachineLimits, "memoryMiB">>;

/** The host-side limits of a machine with this much guest memory, and what its request asked for. */
export function machineLimits(guestMemoryMiB: number, request: LimitRequest = {}): MachineLimits {
  // ~1/8 for page tables of many guest processes mapping all of it, and a fixed part for the kernel binary.
  const memoryMiB = guestMemoryMiB + Math.ceil(guestMemoryMiB / 8) + 64;
  return {
    memoryMiB,
    processes: request.processes ?? DEFAULT_LIMITS.processes,
    cpuWeight: request.cpuWeight ?? DEFAULT_LIMITS.cpuWeight,
    ...(request.cpuPercent ? { cpuPercent: request.cpuPercent } : {}),
  };
}

/** The machine's own tmpfs for its guest memory file: the guest's memory and a little room. */
export function memoryFileMiB(guestMemoryMiB: number): number {
  return guestMemoryMiB + 16;
}
