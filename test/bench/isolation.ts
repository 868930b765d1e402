import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { hostConfigFromEnv } from "../../host/config.js";
import { Host } from "../../host/host.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { createSshClient } from "../helpers/ssh.js";
import { median, type Results } from "./results.js";

const NS = "gaol-bench-iso";

/** The host's busy and total CPU ticks so far, from /proc/stat. */
async function cpuTicks(): Promise<{ busy: number; total: number }> {
  const fields = ((await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
}

/** Runs work and says how busy the host's CPUs were meanwhile, in percent. */
async function withCpu<T>(work: () => Promise<T>): Promise<{ value: T; cpuPercent: number }> {
  const before = await cpuTicks();
  const value = await work();
  const after = await cpuTicks();
  return { value, cpuPercent: (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total) };
}

/**
 * What Part 8's isolation costs and buys, in one run: provision → READY and destroy with
 * the jail, cgroup and port security on and off (boots alternating, so both see the same
 * stretch of this VM), then a neighbour's `ssh true` and a new boot while a machine spins
 * four busy loops, against the same with it idle.
 */
export async function benchIsolation(work: string, results: Results, runs = 7): Promise<void> {
  const owner = await createAccount("gaoliso", 1553);
  const lan = await createTestLan(NS, 44, join(work, "iso-lan"));
  const ssh = await createSshClient(join(work, "iso-client"), NS);
  const base = hostConfigFromEnv();
  const hostWith = (isolation: boolean) => {
    const host = new Host(
      { ...base, bridge: "br0", netns: NS, stateDir: join(work, `state-iso-${isolation}`), isolation },
      { bootTimeoutMs: 60_000 },
    );
    host.warmUp();
    return host;
  };
  const on = hostWith(true);
  const off = hostWith(false);
  let n = 0;
  const bootOn = async (host: Host) => {
    const name = `iso-${n++}`;
    const t = performance.now();
    const handle = await host.provision({ name, owner: owner.name, sshPublicKeys: [ssh.publicKey] }, () => undefined);
    const ready = await handle.ready;
    return { name, ms: performance.now() - t, ip: ready.ip, keys: handle.record.hostKeys };
  };
  const destroyMs = async (host: Host, name: string) => {
    const t = performance.now();
    await host.destroy(name);
    return performance.now() - t;
  };
  try {
    const boots = { on: [] as number[], off: [] as number[] };
    const destroys = { on: [] as number[], off: [] as number[] };
    for (let i = 0; i < runs; i++) {
      for (const [key, host] of [
        ["on", on],
        ["off", off],
      ] as const) {
        const m = await bootOn(host);
        boots[key].push(m.ms);
        destroys[key].push(await destroyMs(host, m.name));
      }
    }
    results.set("isolation on: provision → READY (library, median)", median(boots.on), "ms");
    results.set("isolation off: provision → READY (library, median)", median(boots.off), "ms");
    results.set("  on ÷ off (READY)", median(boots.on) / median(boots.off), "×");
    results.set("isolation on: destroy (median)", median(destroys.on), "ms");
    results.set("isolation off: destroy (median)", median(destroys.off), "ms");

    // A neighbour under load: four busy loops in A, each host process in A's cgroup.
    const a = await bootOn(on);
    const b = await bootOn(on);
    const sshTrue = async () => {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await ssh.exec("root", b.ip, "true", b.keys);
        samples.push(performance.now() - t);
      }
      return median(samples);
    };
    const newBoot = async () => {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const m = await bootOn(on);
        samples.push(m.ms);
        await on.destroy(m.name);
      }
      return median(samples);
    };
    const idleSsh = await withCpu(sshTrue);
    const idleBoot = await withCpu(newBoot);
    const loops = "for i in 1 2 3 4; do (while :; do :; done) </dev/null >/dev/null 2>&1 & done";
    await ssh.exec("root", a.ip, `setsid sh -c '${loops}' </dev/null >/dev/null 2>&1 &`, a.keys);
    const busySsh = await withCpu(sshTrue);
    const busyBoot = await withCpu(newBoot);
    results.set("neighbour idle: B's ssh true (median of 5)", idleSsh.value, "ms");
    results.set("neighbour busy (4 loops in A): B's ssh true", busySsh.value, "ms");
    results.set("  busy ÷ idle (ssh true)", busySsh.value / idleSsh.value, "×");
    results.set("neighbour idle: new machine → READY (median of 5)", idleBoot.value, "ms");
    results.set("neighbour busy: new machine → READY", busyBoot.value, "ms");
    results.set("  busy ÷ idle (READY)", busyBoot.value / idleBoot.value, "×");
    // The loops are real only if the host was busier meanwhile (UML's guest is one CPU).
    results.set("  host CPU busy, idle neighbour", idleSsh.cpuPercent, "%");
    results.set("  host CPU busy, busy neighbour", busySsh.cpuPercent, "%");
  } finally {
    for (const host of [on, off]) for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await lan.destroy();
    await removeAccount(owner.name);
  }
}
