import { Worker } from "node:worker_threads";

/**
 * graphql-ws subscribers to one machine's events in a worker thread (subscribers-worker.mjs),
 * so that the clients' work does not slow the api they measure. Resolves once all are
 * connected; `warm` once each has had a `${prefix}warm…` line; `latencies` when all have had
 * `lines` measured ones (`byLine`: the same, by line).
 */
export async function startSubscribers(data: {
  url: string;
  token: string;
  machineId: string;
  after?: string;
  subscribers: number;
  prefix: string;
  lines: number;
}) {
  const worker = new Worker(new URL("./subscribers-worker.mjs", import.meta.url), { workerData: data });
  const message = <T>(key: "ready" | "warm" | "latencies" | "byLine") =>
    new Promise<T>((resolve, reject) => {
      worker.on("message", (m: Record<string, unknown>) => m[key] && resolve(m[key] as T));
      worker.on("error", reject);
    });
  const latencies = message<number[]>("latencies");
  const byLine = message<number[][]>("byLine");
  const warm = message<boolean>("warm").then(() => undefined);
  await message("ready");
  return { warm, latencies, byLine, stop: () => worker.terminate() };
}
