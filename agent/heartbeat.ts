import { readFileSync } from "node:fs";
import type { HeldImageVersion } from "../host/driver.js";
import type { HeartbeatMutationVariables } from "./api/generated.js";

/** What this host offers new machines. */
export interface Capacity {
  memoryMiB: number;
  maxMachines: number;
}

export interface HeartbeatOptions {
  send: (beat: HeartbeatMutationVariables) => Promise<unknown>;
  /** The image versions this host holds, reported when they change. */
  images: () => Promise<HeldImageVersion[]>;
  /** Defaults from /proc/meminfo, GAOL_MEMORY_MIB and GAOL_MAX_MACHINES. */
  capacity?: Capacity;
  /** Free MiB on the host's GAOL_ROOT now (read each beat: disks fill under a running agent). */
  rootFreeMiB?: () => Promise<number>;
  log?: (line: string) => void;
}

/**
 * Tells the api that this host is alive, what it offers and (only when it changed, or after a
 * reconnection) which image versions it holds; a goodbye offers nothing, so no machine is placed
 * here while no agent runs.
 */
export class Heartbeat {
  private reportedImages?: string;
  private stopped = false;
  /** Read once: /proc/meminfo and the environment do not change under a running agent. */
  private readonly capacity: Capacity;
  private timer?: NodeJS.Timeout;
  /** The beat in flight, with what follows it. */
  private current: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: HeartbeatOptions) {
    this.capacity = options.capacity ?? defaultCapacity();
  }

  /** One beat; resolves to whether the api took it (a failure is logged, never thrown). */
  beat(): Promise<boolean> {
    const beat = this.beatOnce();
    this.current = beat;
    return beat;
  }

  /** A beat every `ms`, each followed by `after` (told whether the api took it). */
  every(ms: number, after: (took: boolean) => Promise<void>): void {
    this.timer = setInterval(() => {
      this.current = this.beatOnce().then(after);
    }, ms);
  }

  /** The api may have lost what it was told: the next beat sends the images again. */
  forgetImages(): void {
    this.reportedImages = undefined;
  }

  /** No beat starts after this; one in flight sends nothing. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Waits for the beat in flight, then offers no capacity. */
  async goodbye(): Promise<void> {
    await this.current;
    await this.options.send({ memoryMiB: 0, maxMachines: 0 }).catch(() => undefined);
  }

  private async beatOnce(): Promise<boolean> {
    try {
      const images = (await this.options.images()).map(({ image, version, sizeBytes }) => ({
        name: image,
        version,
        sizeBytes,
      }));
      // A beat that outlives stop() would offer capacity again after the goodbye.
      if (this.stopped) return false;
      const held = JSON.stringify(images);
      const changed = held !== this.reportedImages;
      const rootFreeMiB = await this.options.rootFreeMiB?.().catch(() => undefined);
      await this.options.send({ ...this.capacity, rootFreeMiB, ...(changed ? { images } : {}) });
      if (changed) this.reportedImages = held;
      return true;
    } catch (error) {
      this.options.log?.(`heartbeat failed: ${(error as Error).message}`);
      return false;
    }
  }
}

export function defaultCapacity(): Capacity {
  let meminfo = "";
  try {
    meminfo = readFileSync("/proc/meminfo", "utf8");
  } catch {}
  const totalKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const memoryMiB = Number(process.env.GAOL_MEMORY_MIB ?? Math.max(0, Math.floor((totalKiB / 1024) * 0.8) - 1024));
  return { memoryMiB, maxMachines: Number(process.env.GAOL_MAX_MACHINES ?? 100) };
}
