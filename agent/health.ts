import { HEALTH_CHECKS, type MachineEvent, machineEvent } from "../core/index.js";
import type { HealthProbe } from "../host/driver.js";

export interface HealthChecksOptions {
  /** One probe of a machine (the driver's): undefined when no proven boot of it is watched here. */
  probe: (id: string) => Promise<HealthProbe | undefined>;
  /** This host's READY machines, by local id. */
  ready: () => string[];
  /** Sends one event of a machine (by local id). */
  report: (id: string, event: MachineEvent) => void;
  /** The mean time between two probes of a machine; 0 probes nothing. */
  intervalMs?: number;
  /** Failed probes in a row that make a machine unresponsive. */
  failures?: number;
  /** Probes running at once, at most. */
  concurrency?: number;
  /** How far each interval may stray from the mean, as a fraction of it. */
  jitter?: number;
  random?: () => number;
  log?: (line: string) => void;
}

interface Watched {
  /** When its next probe is due (ms since the epoch). */
  due: number;
  probing: boolean;
  /** Failed probes in a row, and when the first of them started. */
  failures: number;
  firstFailure?: Date;
  /** Set once MachineUnresponsive was reported, until a probe passes. */
  unresponsiveSince?: Date;
}

/**
 * Probes this host's READY machines with the host-key proof READY itself used, each about once an
 * interval (jittered, the first anywhere in its first interval and a half, so a hundred machines
 * adopted at once do not probe in one burst), at most `concurrency` at once. `failures` failed
 * probes in a row report MachineUnresponsive, once; the first probe that passes after it reports
 * MachineResponsive. A machine that leaves READY (a state change observed, or no longer listed)
 * is forgotten, and what a probe that was running for it found is dropped.
 */
export class HealthChecks {
  readonly intervalMs: number;
  private readonly failures: number;
  private readonly concurrency: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private readonly watched = new Map<string, Watched>();
  private readonly running = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: HealthChecksOptions) {
    this.intervalMs = options.intervalMs ?? HEALTH_CHECKS.intervalSeconds * 1000;
    this.failures = options.failures ?? HEALTH_CHECKS.failures;
    this.concurrency = options.concurrency ?? HEALTH_CHECKS.concurrency;
    this.jitter = options.jitter ?? HEALTH_CHECKS.jitter;
    this.random = options.random ?? Math.random;
  }

  /** Looks for due probes a few times per interval (at least once a second). */
  start(): void {
    if (this.intervalMs <= 0 || this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), Math.min(1000, Math.max(10, this.intervalMs / 10)));
    this.timer.unref();
    this.tick();
  }

  /** Every event this agent reports of a machine: a new state (a reboot, a destroy, a new READY) starts its health afresh. */
  observe(id: string, event: MachineEvent): void {
    if (event.kind === "MachineStateChanged") this.watched.delete(id);
  }

  /** Watches what became READY, forgets what is no longer, and starts the probes that are due. */
  tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    const ready = new Set(this.options.ready());
    for (const id of this.watched.keys()) if (!ready.has(id)) this.watched.delete(id);
    for (const id of ready) {
      if (!this.watched.has(id))
        this.watched.set(id, { due: now + this.intervalMs * (0.5 + this.random()), probing: false, failures: 0 });
    }
    this.startDue(now);
  }

  /** No probe starts after this; resolves once the running ones are done (what they find is dropped). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all(this.running);
  }

  private startDue(now = Date.now()): void {
    const due = [...this.watched].filter(([, w]) => !w.probing && w.due <= now).sort(([, a], [, b]) => a.due - b.due);
    for (const [id, watched] of due) {
      if (this.running.size >= this.concurrency) return;
      this.probe(id, watched);
    }
  }

  private probe(id: string, watched: Watched): void {
    watched.probing = true;
    const started = new Date();
    const run = this.options
      .probe(id)
      .then(
        (result) => this.record(id, watched, result, started),
        // The host could not probe (not the machine's doing): nothing is counted either way.
        (error: Error) => this.options.log?.(`health probe of ${id} could not run: ${error.message}`),
      )
      .finally(() => {
        watched.probing = false;
        const spread = this.jitter * (2 * this.random() - 1);
        watched.due = Date.now() + this.intervalMs * (1 + spread);
        this.running.delete(run);
        if (!this.stopped) this.startDue();
      });
    this.running.add(run);
  }

  private record(id: string, watched: Watched, result: HealthProbe | undefined, started: Date): void {
    // The machine left READY meanwhile (or the agent is stopping): the probe speaks of a boot that is over.
    if (this.stopped || this.watched.get(id) !== watched || result === undefined) return;
    if (result.healthy) {
      const since = watched.unresponsiveSince;
      if (since) {
        const unresponsiveSeconds = (Date.now() - since.getTime()) / 1000;
        this.options.report(id, machineEvent("MachineResponsive", { unresponsiveSeconds }));
        this.options.log?.(`${id} answers again after ${unresponsiveSeconds.toFixed(0)} s`);
      }
      watched.failures = 0;
      watched.firstFailure = undefined;
      watched.unresponsiveSince = undefined;
      return;
    }
    watched.failures += 1;
    watched.firstFailure ??= started;
    if (watched.failures < this.failures || watched.unresponsiveSince) return;
    watched.unresponsiveSince = watched.firstFailure;
    const since = watched.firstFailure.toISOString();
    this.options.report(
      id,
      machineEvent("MachineUnresponsive", { reason: result.reason, failures: watched.failures, since }),
    );
    this.options.log?.(`${id} is unresponsive: ${result.reason} (${watched.failures} probes in a row)`);
  }
}
