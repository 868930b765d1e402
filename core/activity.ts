/** What the host saw that made a machine count as used: its CPU time, or its traffic on the LAN. */
export const ACTIVITY_KINDS = ["CPU", "NETWORK"] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

/** What the host measured of a machine over one sample: CPU time of its processes, bytes through its tap. */
export interface MachineUsage {
  cpuSeconds: number;
  bytes: number;
}

/**
 * What one of the host's own health probes costs a machine, at most: measured here at ~60 ms of
 * CPU (its sshd's key exchange) and ~2.6 KB, doubled for the VM's slow stretches.
 */
export const PROBE_COST: MachineUsage = { cpuSeconds: 0.15, bytes: 4096 };

/** Beyond what the host itself caused, what counts as someone using the machine in one sample. */
export const ACTIVITY_THRESHOLD: MachineUsage = { cpuSeconds: 0.2, bytes: 2048 };

/** How many probes can fall in a window: one per interval, and one more at its edge (jitter). */
export function probesWithin(windowMs: number, probeIntervalMs: number): number {
  return probeIntervalMs > 0 ? Math.ceil(windowMs / probeIntervalMs) + 1 : 0;
}

/**
 * Whether a sample shows someone using the machine, and how: traffic first (a student's ssh
 * session, a server answering), then CPU (a build running), each past what `probes` of the
 * host's own could have cost. Measured from the host: nothing the guest says counts.
 */
export function activityIn(delta: MachineUsage, probes: number): ActivityKind | undefined {
  if (delta.bytes - probes * PROBE_COST.bytes > ACTIVITY_THRESHOLD.bytes) return "NETWORK";
  if (delta.cpuSeconds - probes * PROBE_COST.cpuSeconds > ACTIVITY_THRESHOLD.cpuSeconds) return "CPU";
  return undefined;
}

/** When an idle lab machine is ended: its idle limit after its last activity (or its READY, when it had none). */
export function idleEnd(lastActiveAt: Date, idleLimitSeconds: number): Date {
  return new Date(lastActiveAt.getTime() + idleLimitSeconds * 1000);
}
