// `npm run bench`: numbers, never pass/fail. Real Postgres, real UML on LANs of its own.
// BENCH=api,boot,burst,events,density,baselines,isolation,image,work picks sections (default: all);
// BENCH_KERNELS=7.3,6.1 runs boot, burst, events and density once per kernel.
import { mkdir, rm } from "node:fs/promises";
import { hostConfigFromEnv } from "../../host/config.js";
import { buildKernelOnce } from "../../host/kernel/build.js";
import { isKernelSource, type KernelSourceName } from "../../host/kernel/sources.js";
import { ensureHost } from "../../host/setup/index.js";
import { NO_RATE_LIMIT, startTestApi } from "../helpers/api.js";
import { setup as startPostgres, teardown as stopPostgres } from "../helpers/postgres-server.js";
import { benchApiOnly } from "./api-only.js";
import { benchBaselines } from "./baselines.js";
import { benchImage } from "./image.js";
import { benchIsolation } from "./isolation.js";
import { Results } from "./results.js";
import { benchThroughApi } from "./through-api.js";
import { benchWorkInside } from "./work-inside.js";

const WORK = "/var/lib/gaol-test/bench";
const ALL = ["api", "boot", "burst", "events", "density", "baselines", "isolation", "image", "work"];
const sections = new Set((process.env.BENCH ?? ALL.join(",")).split(",").map((s) => s.trim()));
const results = new Results();

await ensureHost(hostConfigFromEnv(), () => undefined);
await rm(WORK, { recursive: true, force: true });
await mkdir(WORK, { recursive: true });
await startPostgres();
try {
  if (sections.has("api")) {
    // The bench measures latency, not the per-token limit its bursts of provisions would hit.
    const api = await startTestApi("postgres", undefined, { rateLimit: NO_RATE_LIMIT });
    await benchApiOnly(api, results);
    await api.close();
  }
  if (["boot", "burst", "events", "density"].some((s) => sections.has(s))) {
    // BENCH_KERNELS=7.3,6.1: these sections once per kernel, so that one stretch of this VM compares them.
    const kernels = (process.env.BENCH_KERNELS ?? "").split(",").filter(Boolean);
    const unknown = kernels.filter((k) => !isKernelSource(k));
    if (unknown.length > 0) throw new Error(`BENCH_KERNELS: no kernel source ${unknown.join(", ")}`);
    if (kernels.length === 0) await benchThroughApi(WORK, results, sections);
    for (const source of kernels as KernelSourceName[]) {
      const kernel = await buildKernelOnce(hostConfigFromEnv(), source, (line) => console.log(`bench: ${line}`));
      results.set(`kernel ${source}`, kernel);
      await benchThroughApi(WORK, results, sections, kernel);
    }
  }
  if (sections.has("baselines")) await benchBaselines(WORK, results);
  if (sections.has("isolation")) await benchIsolation(WORK, results);
  if (sections.has("image")) await benchImage(WORK, results);
  if (sections.has("work")) await benchWorkInside(WORK, results);
} finally {
  await stopPostgres();
  await rm(WORK, { recursive: true, force: true });
  // What the sections before a failure measured is still worth reading.
  results.print();
}
await results.write("test-artifacts/bench.json");
process.exit(0);
