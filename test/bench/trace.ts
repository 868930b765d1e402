// `npm run trace`: where one boot's time goes, stage by stage, with the host library alone
// (no api) on a LAN of its own; medians over RUNS boots (default 8). Numbers only.
// TRACE_KERNEL, TRACE_ROOT (a GAOL_ROOT with other image versions), TRACE_VERSION pick what boots;
// TRACE_KEY (a public key file) lets you ssh in while HOLD_MS keeps each machine; TRACE_TIMEOUT_MS
// bounds the wait for READY (default 30 s); VERBOSE prints every event.
import { readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostConfigFromEnv } from "../../host/config.js";
import { Host } from "../../host/host.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { median } from "./results.js";
import { hostCpuSeconds } from "./through-api.js";

const NS = "gaol-trace";
const env = process.env;
const work = await mkdtemp(join(tmpdir(), "gaol-trace-"));
// The kernel runs as the owner and must reach its machine directory.
await chmod(work, 0o755);
const owner = await createAccount("gaoltrace", 1571);
const lan = await createTestLan(NS, 45, join(work, "lan"));
const base = hostConfigFromEnv();
const host = new Host(
  {
    ...base,
    root: env.TRACE_ROOT ?? base.root,
    kernel: env.TRACE_KERNEL ?? base.kernel,
    bridge: "br0",
    netns: NS,
    stateDir: join(work, "state"),
  },
  { bootTimeoutMs: Number(env.TRACE_TIMEOUT_MS ?? 30_000) },
);
host.warmUp();
const cleanUp = async () => {
  for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
  await lan.destroy();
  await removeAccount(owner.name);
  await rm(work, { recursive: true, force: true });
};
process.once("SIGTERM", () => void cleanUp().finally(() => process.exit(1)));
process.once("SIGINT", () => void cleanUp().finally(() => process.exit(1)));
// Let the lpj calibration finish first: it would otherwise share the CPU with the first boot.
await new Promise((r) => setTimeout(r, 2000));

const table = new Map<string, number[]>();
const mark = (key: string, ms: number) => table.set(key, [...(table.get(key) ?? []), ms]);
try {
  for (let i = 0; i < Number(env.RUNS ?? 8); i++) {
    const name = `trace-${i}`;
    const t = Date.now();
    const cpu0 = hostCpuSeconds();
    const own0 = process.cpuUsage();
    const lines: string[] = [];
    const seen = new Set<string>();
    const log = (text: string) => lines.push(`${String(Date.now() - t).padStart(5)} ${text}`);
    const handle = await host.provision(
      {
        name,
        owner: owner.name,
        imageVersion: env.TRACE_VERSION ? Number(env.TRACE_VERSION) : undefined,
        sshPublicKeys: env.TRACE_KEY ? [readFileSync(env.TRACE_KEY, "utf8").trim()] : [],
      },
      (e) => {
        const key =
          e.kind === "BootStageReached"
            ? e.payload.stage
            : e.kind === "MachineStateChanged"
              ? e.payload.state
              : undefined;
        if (key && !seen.has(key)) {
          seen.add(key);
          mark(key, Date.now() - t);
          const uptime = e.kind === "BootStageReached" ? e.payload.uptimeSeconds : undefined;
          if (uptime != null) mark(`${key} (guest uptime)`, Math.round(uptime * 1000));
        }
        log(e.kind === "ConsoleOutput" ? e.payload.text : JSON.stringify(e).slice(0, 160));
      },
    );
    await handle.ready.catch((error) => log(`not ready: ${error}\n${lines.slice(-20).join("\n")}`));
    mark("host CPU to READY (ms, 2 cores)", Math.round((hostCpuSeconds() - cpu0) * 1000));
    const own = process.cpuUsage(own0);
    mark("  of it this process (ms)", Math.round((own.user + own.system) / 1000));
    await new Promise((r) => setTimeout(r, Number(env.HOLD_MS ?? 300)));
    const destroyStart = Date.now();
    await host.destroy(name);
    mark("destroy (host library)", Date.now() - destroyStart);
    if (env.VERBOSE || !seen.has("READY")) console.log(`${lines.join("\n")}\n----`);
  }
  const rows = [...table].sort((a, b) => (median(a[1]) ?? 0) - (median(b[1]) ?? 0));
  for (const [key, ms] of rows) console.log(`${key.padEnd(28)} median ${median(ms)} ms  [${ms.join(" ")}]`);
} finally {
  await cleanUp();
}
process.exit(0);
