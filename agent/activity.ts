import { type ActivityKind, activityIn, type MachineUsage, probesWithin } from "../core/index.js";

/** A machine was seen in use: when, and what the host saw. */
export interface Activity {
  id: string;
  at: Date;
  kind: ActivityKind;
}

export interface ActivityWatchOptions {
  /** What the host measured of a machine so far (the driver's). */
  usage: (id: string) => Promise<MachineUsage | undefined>;
  /** This host's READY machines, by local id. */
  ready: () => string[];
  /** Sends what one sample found; a failure is logged and the next sample's finding follows. */
  report: (activity: Activity[]) => Promise<void>;
  /** Time between samples; 0 samples nothing. */
  intervalMs: number;
  /** The health probes' interval: their own traffic and CPU are not someone's use. */
  probeIntervalMs: number;
  log?: (line: string) => void;
}

/**
 * Samples each READY machine's CPU time and tap bytes every interval and reports the machines
 * whose use since the last sample is more than the host's own probes could explain (idle limits
 * end the others). A machine's first sample is its baseline: a boot is not someone's use.
 */
export class ActivityWatch {
  private readonly last = new Map<string, MachineUsage>();
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: ActivityWatchOptions) {}

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.running = this.running.then(async () => {
        await this.sample();
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One sample of every READY machine; what it found is reported. */
  async sample(now = new Date()): Promise<Activity[]> {
    const ready = new Set(this.options.ready());
    for (const id of this.last.keys()) if (!ready.has(id)) this.last.delete(id);
    const probes = probesWithin(this.options.intervalMs, this.options.probeIntervalMs);
    const found: Activity[] = [];
    for (const id of ready) {
      const usage = await this.options.usage(id).catch((error: unknown) => {
        this.options.log?.(`sampling ${id}: ${(error as Error).message}`);
        return undefined;
      });
      if (!usage) continue;
      const before = this.last.get(id);
      this.last.set(id, usage);
      if (!before) continue;
      // v1 sums the processes there now: one that exited takes its time along, so never below zero.
      const delta = {
        cpuSeconds: Math.max(0, usage.cpuSeconds - before.cpuSeconds),
        bytes: Math.max(0, usage.bytes - before.bytes),
      };
      const kind = activityIn(delta, probes);
      if (kind) found.push({ id, at: now, kind });
    }
    if (found.length > 0)
      await this.options.report(found).catch((error: unknown) => {
        this.options.log?.(`reporting activity: ${(error as Error).message}`);
      });
    return found;
  }
}
