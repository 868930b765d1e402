import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import WebSocket from "ws";
import { Agent } from "../../agent/agent.js";
import { localId } from "../../agent/api/ids.js";
import { GaolClient, type Machine } from "../../clients/sdk/client.js";
import { hostConfigFromEnv } from "../../host/config.js";
import { Host } from "../../host/host.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { NO_RATE_LIMIT, startTestApi } from "../helpers/api.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient } from "../helpers/ssh.js";
import { median, type Results } from "./results.js";
import { startSubscribers } from "./subscribers.js";

const NS = "gaol-bench";
// In the order they come with gaol's kernel (it leases before init); "link" only where startenv runs DHCP.
const STAGES = [
  "PROVISIONING",
  "BOOTING",
  "link",
  "lease",
  "init",
  "account",
  "booted",
  "sshd",
  "ssh verified",
  "READY",
];

/** CPU seconds the whole host spent busy so far (all cores, from /proc/stat). */
export function hostCpuSeconds(): number {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return (fields.reduce((a, b) => a + b, 0) - idle) / 100;
}

/** Where a p99 comes from: every line reaches all subscribers, so a few slow lines are its whole tail. */
function lineSpread(results: Results, byLine: number[][]): void {
  const ordered = byLine.map((ms) => [...ms].sort((a, b) => a - b));
  const last = (ms: number[]) => ms.at(-1) ?? 0;
  const slowest = ordered.reduce((a, b) => (last(b) > last(a) ? b : a), []);
  results.set("  lines whose last subscriber waited > 50 ms", ordered.filter((ms) => last(ms) > 50).length);
  results.set(
    "  slowest line: first / median / last subscriber",
    `${slowest[0]} / ${median(slowest)} / ${last(slowest)}`,
    "ms",
  );
  results.set("  median line: last subscriber", median(ordered.map(last)), "ms");
}

function memAvailableMiB(): number {
  const line = readFileSync("/proc/meminfo", "utf8").match(/^MemAvailable:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) / 1024;
}

/** Boots through the api with the real agent on a LAN of the benchmark's own: the numbers the issue asks for. */
export async function benchThroughApi(
  work: string,
  results: Results,
  sections: Set<string>,
  kernel?: string,
): Promise<void> {
  const base = hostConfigFromEnv();
  const config = { ...base, kernel: kernel ?? base.kernel, bridge: "br0", netns: NS, stateDir: join(work, "state") };
  let lan: TestLan = await createTestLan(NS, 40, join(work, "lan"));
  const owner = await createAccount("gaolbench", 1551);
  const ssh = await createSshClient(join(work, "client"), NS);
  // The bench measures latency, not the per-token limit its bursts of provisions would hit.
  const api = await startTestApi("postgres", undefined, { rateLimit: NO_RATE_LIMIT });
  const url = await api.app.start(0);
  const agentToken = await api.login("bench-uml-host", "AGENT", { hostMemoryMiB: 0 });
  const token = await api.login(owner.name);
  await api.database.db.execute("update users set max_machines = 1000, max_memory_mib = 1000000" as never);
  const agent = new Agent({ api: url, token: agentToken, config, capacity: { memoryMiB: 64_000, maxMachines: 110 } });
  await agent.start();
  const client = new GaolClient({ url, token, webSocket: WebSocket });

  /** Provision → READY, with when each stage arrived (ms after the request, on the host's clock). */
  const boot = async (name: string, memoryMiB?: number) => {
    const t0 = Date.now();
    const machine = await client.provision({ name, memoryMiB, sshPublicKeys: [ssh.publicKey] });
    const marks: Record<string, number> = {};
    for await (const e of client.events(machine.id)) {
      const label =
        e.__typename === "MachineStateChanged"
          ? e.state
          : e.__typename === "BootStageReached"
            ? e.stage
            : e.__typename === "SshReady"
              ? "ssh verified"
              : undefined;
      if (label && marks[label] === undefined) marks[label] = Date.parse(e.at) - t0;
      if (e.__typename !== "MachineStateChanged") continue;
      if (e.state === "READY") return { machine, marks, ms: Date.now() - t0 };
      if (e.state === "FAILED") {
        console.error(`${name} FAILED: ${e.reason}\n  | ${e.lastConsoleLines.join("\n  | ")}`);
        throw new Error(`${name} FAILED: ${e.reason}`);
      }
    }
    throw new Error(`${name}: the event stream ended`);
  };
  const destroy = async (machine: Machine) => {
    const t = Date.now();
    await client.destroy(machine.id);
    await client.waitForState(machine.id, "DESTROYED");
    return Date.now() - t;
  };
  const leftovers = async (machines: Machine[]) => {
    const local = new Set(await new Host(config).localIds());
    return machines.filter((m) => local.has(localId(m.id))).length;
  };
  // Each section starts on a fresh LAN (and lease file): its addresses are leased for an hour to MACs that never return.
  const freshLan = async () => {
    await lan.destroy();
    await rm(join(work, "lan"), { recursive: true, force: true });
    lan = await createTestLan(NS, 40, join(work, "lan"));
  };

  try {
    if (sections.has("boot")) {
      const ready: number[] = [];
      const destroyed: number[] = [];
      const marks: Record<string, number[]> = {};
      const machines: Machine[] = [];
      for (let i = 0; i < 20; i++) {
        const run = await boot(`seq-${i}`);
        ready.push(run.ms);
        for (const [stage, ms] of Object.entries(run.marks)) marks[stage] = [...(marks[stage] ?? []), ms];
        destroyed.push(await destroy(run.machine));
        machines.push(run.machine);
      }
      results.samples("provision → READY through the api, 20 sequential", ready, "ms", 0.95);
      for (const stage of STAGES) {
        if (marks[stage]) results.set(`  stage ${stage} (median, after the request)`, median(marks[stage]), "ms");
      }
      results.samples("destroy → DESTROYED through the api", destroyed, "ms", 0.95);
      results.set("  machines left on the host after DESTROYED", await leftovers(machines));
    }

    if (sections.has("burst")) {
      // Three bursts (one is as noisy as its slowest boot), each on a fresh LAN; the median is the figure.
      const rounds: Array<{ all: number; host: number; node: number; first: number; destroyed: number }> = [];
      for (let round = 0; round < 3; round++) {
        await freshLan();
        const t = Date.now();
        const cpu = { host: hostCpuSeconds(), node: process.cpuUsage() };
        const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => boot(`burst-${round}-${i}`)));
        const all = Date.now() - t;
        const nodeCpu = process.cpuUsage(cpu.node);
        const host = hostCpuSeconds() - cpu.host;
        const d = Date.now();
        await Promise.all(runs.map((r) => destroy(r.machine)));
        const first = Math.min(...runs.map((r) => r.ms));
        rounds.push({ all, host, node: (nodeCpu.user + nodeCpu.system) / 1e6, first, destroyed: Date.now() - d });
        // Where a slow burst's time went: its slowest machine, stage by stage.
        const slowest = runs.reduce((a, b) => (b.ms > a.ms ? b : a));
        const stages = STAGES.flatMap((s) => (slowest.marks[s] === undefined ? [] : [`${s} ${slowest.marks[s]}`]));
        results.set(`  burst ${round + 1}: slowest machine's stages`, stages.join(" · "), "ms");
      }
      const byAll = [...rounds].sort((a, b) => a.all - b.all);
      const mid = byAll[1] as (typeof rounds)[number];
      results.set("10 provisioned at once → all READY (median of 3)", mid.all, "ms");
      results.set("  each burst", rounds.map((r) => r.all).join(" / "), "ms");
      results.set("  host CPU busy in that burst (2 cores)", mid.host, "s");
      results.set("  of it this process (api + agent + bench)", mid.node, "s");
      results.set("  first READY in that burst", mid.first, "ms");
      results.set("10 destroyed at once → all DESTROYED (median of 3)", median(rounds.map((r) => r.destroyed)), "ms");
    }

    if (sections.has("events")) {
      await freshLan();
      const { machine } = await boot("events");
      const ready = await client.waitForReady(machine.id);
      for (const subscribers of [1, 1000]) {
        const log = await client.log(machine.id);
        const after = log.at(-1)?.cursor;
        const lines = 50;
        const prefix = `gaol-bench-${subscribers}-`;
        const clients = await startSubscribers({
          url,
          token,
          machineId: machine.id,
          after,
          subscribers,
          prefix,
          lines,
        });
        // One guest shell prints it all, in bash builtins (a read on a FIFO nobody writes is the pause:
        // a `sleep` forked per line cost the guest, and so the host's two cores, more CPU than the
        // line's delivery): unmeasured lines until every subscriber has had one (connected is not yet
        // subscribed), a second for the setup's garbage and the bench's own ssh processes to settle,
        // then the measured lines.
        const printing = ssh.exec(
          "root",
          ready.ip,
          [
            `mkfifo /tmp/${prefix}pause; exec 9<>/tmp/${prefix}pause`,
            `for ((i = 1; i <= 100; i++)); do [ -e /tmp/${prefix}warm ] && break; echo ${prefix}warm-$i > /dev/console; read -t 0.1 -u 9; done`,
            "read -t 1 -u 9",
            `for ((i = 1; i <= ${lines}; i++)); do echo ${prefix}$i > /dev/console; read -t 0.05 -u 9; done; true`,
          ].join("; "),
          ready.hostKeys,
        );
        await Promise.race([clients.warm, printing]);
        await ssh.exec("root", ready.ip, `touch /tmp/${prefix}warm`, ready.hostKeys);
        await printing;
        results.samples(`console line on the agent → ${subscribers} subscriber(s)`, await clients.latencies);
        if (subscribers > 1) lineSpread(results, await clients.byLine);
        await clients.stop();
      }
      await destroy(machine);
    }

    if (sections.has("density")) {
      await freshLan();
      const target = Number(process.env.BENCH_DENSITY ?? 100);
      const memoryMiB = 128;
      const before = memAvailableMiB();
      const machines: Machine[] = [];
      let stopped = "";
      const t = Date.now();
      while (machines.length < target && !stopped) {
        const batch = Array.from({ length: Math.min(10, target - machines.length) }, (_, i) =>
          boot(`dense-${machines.length + i}`, memoryMiB),
        );
        for (const outcome of await Promise.allSettled(batch)) {
          if (outcome.status === "fulfilled") machines.push(outcome.value.machine);
          else stopped = String(outcome.reason);
        }
      }
      results.set(`density: machines READY at once (of ${target}, ${memoryMiB} MiB each)`, machines.length);
      results.set("density: time to boot them, 10 at a time", Date.now() - t, "ms");
      if (stopped) results.set("density: stopped because", stopped.slice(0, 120));
      await new Promise((r) => setTimeout(r, 10_000));
      const after = memAvailableMiB();
      results.set(
        "density: host memory per idle machine (MemAvailable drop)",
        (before - after) / machines.length,
        "MiB",
      );
      for (let i = 0; i < machines.length; i += 20) await Promise.all(machines.slice(i, i + 20).map(destroy));
      results.set("density: machines left on the host after DESTROYED", await leftovers(machines));
    }
  } finally {
    await agent.stop();
    const host = new Host(config);
    for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await api.close();
    await lan.destroy();
    await removeAccount(owner.name);
  }
}
