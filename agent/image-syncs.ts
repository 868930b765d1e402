import type { MachineDriver } from "../host/driver.js";
import type { ImageSyncReport, PendingSyncsQuery } from "./api/generated.js";

export type PendingSync = PendingSyncsQuery["pendingImageSyncs"][number];
export type SyncReport = Omit<ImageSyncReport, "syncId">;

/** How long a host waits before it tries a sync that failed here again (other hosts may have built it). */
export const SYNC_RETRY_MS = 10 * 60_000;

export interface ImageSyncsOptions {
  pending: () => Promise<PendingSync[]>;
  report: (syncId: string, report: SyncReport) => Promise<unknown>;
  driver: Pick<MachineDriver, "syncImage">;
  log?: (line: string) => void;
  retryMs?: number;
}

/**
 * Runs the image syncs the api asks of this host, one at a time, reporting rsync's progress (at
 * most once a second), then the built version or why it failed.
 */
export class ImageSyncs {
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();
  /** When a sync that failed here may be tried again, by sync id. */
  private readonly failed = new Map<string, number>();

  constructor(private readonly options: ImageSyncsOptions) {}

  /** Runs every pending sync unless a run is under way; failures are logged and reported, never thrown. */
  async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    const log = this.options.log ?? (() => undefined);
    try {
      for (const sync of await this.options.pending()) {
        if (this.stopped) return;
        // A sync that failed here is tried again only after a while, not on every heartbeat.
        if ((this.failed.get(sync.id) ?? 0) > Date.now()) continue;
        const report = (fields: SyncReport) => this.options.report(sync.id, fields);
        log(`syncing image ${sync.image} version ${sync.version} from ${sync.source}`);
        let last = 0;
        try {
          const built = await this.options.driver.syncImage(sync.image, sync.source, {
            version: sync.version,
            log,
            signal: this.abort.signal,
            onProgress: (progress) => {
              if (progress.phase === "transfer" && Date.now() - last < 1000) return;
              last = Date.now();
              void report({ ...progress }).catch(() => undefined);
            },
          });
          await report({ done: true, sizeBytes: built.sizeBytes });
          log(`image ${sync.image} version ${sync.version} built (${built.sizeBytes} bytes)`);
        } catch (error) {
          this.failed.set(sync.id, Date.now() + (this.options.retryMs ?? SYNC_RETRY_MS));
          log(`image ${sync.image} sync failed: ${(error as Error).message}`);
          await report({ error: (error as Error).message }).catch(() => undefined);
        }
      }
    } catch (error) {
      log(`image syncs: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
  }

  /** Aborts the sync under way; no other starts. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }
}
