import { HEARTBEAT_SECONDS, HOST_DOWN_SECONDS, HostConfigError, type Log } from "../core/index.js";
import type { Db } from "../db/client.js";
import { markSilentHosts } from "../services/host-liveness.js";
import { keepLeases } from "../services/leases.js";
import { prestartLabs } from "../services/prestart.js";

/**
 * Runs the api's passes every intervalMs (each replica does; each pass is idempotent), one at a
 * time: silent hosts marked down (their machines LOST), scheduled labs' machines booted before
 * they open, then leases warned and ended. A slow pass delays the next instead of overlapping it.
 */
export function startPasses(
  db: Db,
  options: { intervalMs: number; hostDownSeconds: number },
  log: Log,
): () => Promise<void> {
  const { intervalMs, hostDownSeconds } = options;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = markSilentHosts(db, hostDownSeconds)
      .then(async (lost) => {
        for (const host of lost)
          log(`host ${host.name} is silent: down, ${host.machineIds.length} machines LOST`, {
            host: host.name,
            level: "warn",
          });
        const prestarts = await prestartLabs(db);
        for (const p of prestarts) {
          log(`lab ${p.lab} opens soon: booted machines for ${p.started.length} students`, { lab: p.lab });
          for (const f of p.failed)
            log(`lab ${p.lab}: no machine for ${f.user}: ${f.reason}`, { lab: p.lab, level: "warn" });
        }
        const pass = await keepLeases(db);
        for (const id of pass.ended) log("lease ended: machine destroyed", { machineId: id });
        for (const id of pass.idled) log("idle limit: machine destroyed", { machineId: id });
      })
      .catch((error: unknown) => log(`pass failed: ${(error as Error).message}`, { level: "error" }))
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

/** GAOL_HOST_DOWN_SECONDS: more than two heartbeats, so that one late beat loses no machine. */
export function hostDownSecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.GAOL_HOST_DOWN_SECONDS;
  if (text === undefined || text === "") return HOST_DOWN_SECONDS;
  const value = Number(text);
  if (Number.isFinite(value) && value > 2 * HEARTBEAT_SECONDS) return value;
  throw new HostConfigError([
    `GAOL_HOST_DOWN_SECONDS must be a number of seconds over ${2 * HEARTBEAT_SECONDS} (agents beat every ${HEARTBEAT_SECONDS} s; it is ${text})`,
  ]);
}
