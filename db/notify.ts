import type { Database } from "./client.js";
import { EVENTS_CHANNEL, MACHINES_CHANNEL } from "./queries/events.js";

/** Something happened to this machine since the last wait; waiting is cheap and never misses a change. */
export class MachineWatch {
  private dirty = false;
  private wake?: () => void;

  constructor(private readonly onClose: () => void) {}

  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  /** Resolves at once if something happened since the last call, else at the next notification or abort. */
  async wait(signal?: AbortSignal): Promise<void> {
    if (!this.dirty && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    this.wake = undefined;
    this.dirty = false;
  }

  close(): void {
    this.onClose();
  }
}

/**
 * Fans Postgres notifications (ids only) out to this process's listeners.
 * With real Postgres every api replica gets every notification; with PGlite
 * they stay in-process.
 */
export class Notifier {
  private readonly machineWatches = new Map<string, Set<MachineWatch>>();
  private readonly machineListeners = new Set<(machineId: string) => void>();
  private unlisten: Array<() => Promise<void>> = [];

  constructor(private readonly database: Database) {}

  async start(): Promise<void> {
    this.unlisten.push(
      await this.database.listen(EVENTS_CHANNEL, (payload) => {
        const machineId = payload.split(":")[0] ?? "";
        for (const watch of this.machineWatches.get(machineId) ?? []) watch.notify();
      }),
      await this.database.listen(MACHINES_CHANNEL, (machineId) => {
        for (const listener of this.machineListeners) listener(machineId);
      }),
    );
  }

  /** Register before reading the backlog, so that nothing appended meanwhile is missed. */
  watchMachine(machineId: string): MachineWatch {
    const watches = this.machineWatches.get(machineId) ?? new Set();
    this.machineWatches.set(machineId, watches);
    const watch: MachineWatch = new MachineWatch(() => {
      watches.delete(watch);
      if (watches.size === 0) this.machineWatches.delete(machineId);
    });
    watches.add(watch);
    return watch;
  }

  /** Calls listener with the id of each machine whose row changed. */
  onMachineChanged(listener: (machineId: string) => void): () => void {
    this.machineListeners.add(listener);
    return () => this.machineListeners.delete(listener);
  }

  async stop(): Promise<void> {
    for (const unlisten of this.unlisten) await unlisten().catch(() => undefined);
    this.unlisten = [];
  }
}
