import type { Log } from "../core/index.js";
import type { Db } from "../db/client.js";
import { keepLeases } from "../services/leases.js";
import { prestartLabs } from "../services/prestart.js";

/**
 * Runs the labs' passes every intervalMs (each replica does; each pass is idempotent), one at a
 * time: scheduled labs' machines booted before they open, then leases warned and ended. A slow
 * pass delays the next instead of overlapping it.
 */
export function startLeaseKeeper(db: Db, intervalMs: number, log: Log): () => Promise<void> {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = prestartLabs(db)
      .then(async (prestarts) => {
        for (const p of prestarts) {
          log(`lab ${p.lab} opens soon: booted machines for ${p.started.length} students`, { lab: p.lab });
          for (const f of p.failed)
            log(`lab ${p.lab}: no machine for ${f.user}: ${f.reason}`, { lab: p.lab, level: "warn" });
        }
        const pass = await keepLeases(db);
        for (const id of pass.ended) log("lease ended: machine destroyed", { machineId: id });
        for (const id of pass.idled) log("idle limit: machine destroyed", { machineId: id });
      })
      .catch((error: unknown) => log(`lease pass failed: ${(error as Error).message}`, { level: "error" }))
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
