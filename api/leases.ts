import type { Db } from "../db/client.js";
import { keepLeases } from "../services/leases.js";

/**
 * Runs a lease pass every intervalMs (each replica does; a pass is idempotent), one at a time:
 * a slow pass delays the next instead of overlapping it.
 */
export function startLeaseKeeper(db: Db, intervalMs: number, log: (line: string) => void): () => Promise<void> {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = keepLeases(db)
      .then((pass) => {
        for (const id of pass.ended) log(`lease ended: machine ${id} destroyed`);
      })
      .catch((error: unknown) => log(`lease pass failed: ${(error as Error).message}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
