import { existsSync } from "node:fs";
import { mkdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MachineEvent } from "../../core/index.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host, type MachineHandle } from "../../host/host.js";
import { MachineCgroup } from "../../host/jail/cgroup.js";
import { ensureHost } from "../../host/setup/index.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { exposedPaths } from "../helpers/exposed.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// Guest root attacks its jail for real; every assertion is about what did not happen on the host.
const NS = "gaol-t-jail";
const WORK = "/var/lib/gaol-test/jail";
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
// Below what a 256 MiB guest allows itself (~100), so that the host limit is what stops it.
const PROCESSES = 48;

let lan: TestLan;
let host: Host;
let ann: TestAccount;
let bob: TestAccount;
let ssh: SshClient;
const booted: string[] = [];

interface Booted {
  handle: MachineHandle;
  events: MachineEvent[];
  ip: string;
}

async function boot(name: string, owner: TestAccount, limits = {}): Promise<Booted> {
  const events: MachineEvent[] = [];
  booted.push(name);
  const handle = await host.provision({ name, owner: owner.name, sshPublicKeys: [ssh.publicKey], limits }, (e) =>
    events.push(e),
  );
  const ready = await handle.ready;
  return { handle, events, ip: ready.ip };
}

/** fn's result once it stops throwing (up to ~30 s). */
async function eventually<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= 30) throw error;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function asRoot(m: Booted, command: string) {
  return ssh.exec("root", m.ip, command, m.handle.record.hostKeys);
}

/** What guest root sees when it mounts host path `path` by hostfs ("" when the mount fails). */
function hostfsListing(m: Booted, path: string) {
  return asRoot(
    m,
    `mkdir -p /mnt/h && if mount -t hostfs none /mnt/h -o '${path}' 2>/dev/null; then ls -a /mnt/h; umount /mnt/h; fi; true`,
  );
}

beforeAll(async () => {
  await ensureHost(config, (line) => console.log(`setup: ${line}`));
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  lan = await createTestLan(NS, 36, join(WORK, "lan"));
  ann = await createAccount("gaoltjann", 1591);
  bob = await createAccount("gaoltjbob", 1592);
  // World-readable, so that only the jail (not file modes) keeps ann's machine out.
  await run("chmod", ["0755", bob.home]);
  await writeFile(join(bob.home, "notes"), "bob's notes\n", { mode: 0o644 });
  ssh = await createSshClient(join(WORK, "client"), NS);
  host = new Host(config, { bootTimeoutMs: 120_000 });
  host.warmUp();
});

afterAll(async () => {
  for (const name of booted) await host?.destroy(name).catch(() => undefined);
  await lan?.destroy();
  await removeAccount("gaoltjann");
  await removeAccount("gaoltjbob");
  await rm(WORK, { recursive: true, force: true });
});

printOnFailure(() => [
  ...booted.map((name) => join(paths.machine(config, name), "console.log")),
  join(WORK, "lan", "dnsmasq.log"),
]);

describe("a jailed machine", () => {
  let a: Booted;
  let b: Booted;

  it("boots jailed, as its owner, in a cgroup of its own", async () => {
    [a, b] = await Promise.all([boot("t-jail-a", ann, { processes: PROCESSES }), boot("t-jail-b", bob)]);
    const pid = a.handle.record.pid as number;
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${ann.uid}\\s+${ann.uid}\\s+${ann.uid}\\s+${ann.uid}$`, "m"));
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(await readlink(`/proc/${pid}/ns/mnt`)).not.toBe(await readlink("/proc/self/ns/mnt"));
    const environ = (await readFile(`/proc/${pid}/environ`, "utf8")).split("\0").filter(Boolean);
    expect(environ.map((e) => e.split("=")[0]).sort()).toEqual(["HOME", "PATH", "TMPDIR"]);
    expect(await readFile(`/proc/${pid}/cgroup`, "utf8")).toContain(`/gaol/t-jail-a`);
    expect(await (await MachineCgroup.of("t-jail-a")).members()).toContain(pid);
    // Another local account (or another machine's owner) reads nothing of a running machine's files.
    expect(await exposedPaths(config.stateDir)).toEqual([]);
    // Under GAOL_ROOT only what every machine shares (kernel, jailer, images) is readable; the root disks are not.
    expect(await exposedPaths(paths.gaols(config))).toEqual([]);
  });

  it("shows guest root's hostfs nothing of the host but the owner's home", async () => {
    const root = await hostfsListing(a, "/");
    console.log(`hostfs / from inside: ${root.split("\n").join(" ")}`);
    for (const name of ["etc", "proc", "root", "sys", "run", "usr", "bin"])
      expect(root.split("\n")).not.toContain(name);
    expect(await hostfsListing(a, "/proc")).toBe("");
    expect(await hostfsListing(a, "/etc")).toBe("");
    expect(await hostfsListing(a, "/dev/shm")).toBe("");
    expect(await hostfsListing(a, "/../../etc")).toBe("");
    expect(await hostfsListing(a, bob.home)).toBe("");
    expect(await hostfsListing(a, "/var/lib")).not.toMatch(/^(dpkg|apt|postgresql)$/m);
    // gaol's state dir holds the machine's own directory and nobody else's.
    const machines = (await hostfsListing(a, paths.machines(config))).split("\n");
    expect(machines).toContain("t-jail-a");
    expect(machines).not.toContain("t-jail-b");
  });

  it("cannot write into its own kernel through /proc/self/mem", async () => {
    const out = await asRoot(
      a,
      "mkdir -p /mnt/p; mount -t hostfs none /mnt/p -o /proc 2>&1; printf x | dd of=/mnt/p/self/mem bs=1 seek=4194304 conv=notrunc 2>&1; true",
    );
    expect(out).not.toMatch(/1 byte.*copied/);
    expect(out).toMatch(/No such file|can't|cannot|not exist/i);
  });

  it("keeps writes to a host /tmp inside the jail", async () => {
    const marker = `gaol-jail-${process.pid}`;
    await asRoot(a, `mkdir -p /mnt/t && mount -t hostfs none /mnt/t -o /tmp && echo owned > /mnt/t/${marker}; true`);
    expect(existsSync(join("/tmp", marker))).toBe(false);
  });

  it("mounts the owner's home, and files made there are the owner's", async () => {
    await asRoot(a, `echo from-a > ${ann.home}/made-inside`);
    const made = await stat(join(ann.home, "made-inside"));
    expect(made.uid).toBe(ann.uid);
  });

  it("stops a fork bomb at its process limit, and its neighbour keeps answering", async () => {
    // dash says "Cannot fork" and goes on (bash would retry each fork for seconds); detached, so
    // that ssh returns at once.
    const bomb = `i=0; while [ $i -lt ${PROCESSES * 3} ]; do sleep 8 </dev/null >/dev/null 2>&1 & i=$((i+1)); done`;
    await asRoot(a, `setsid sh -c '${bomb}' </dev/null >/dev/null 2>/root/fork-errors &`);
    const cgroup = await MachineCgroup.of("t-jail-a");
    let most = 0;
    let ownerProcesses = 0;
    for (let i = 0; i < 40; i++) {
      most = Math.max(most, (await cgroup.members()).length);
      const { stdout } = await run("ps", ["-u", String(ann.uid), "-o", "pid="]);
      ownerProcesses = Math.max(ownerProcesses, stdout.split("\n").filter(Boolean).length);
      await new Promise((r) => setTimeout(r, 250));
    }
    // At its limit the machine cannot fork sshd either: ask once the sleeps are over.
    const refused = Number(await eventually(() => asRoot(a, "grep -c . /root/fork-errors; true")));
    console.log(
      `fork bomb: ${refused} forks refused inside; at most ${most} in the cgroup, ${ownerProcesses} host processes of the owner (limit ${PROCESSES})`,
    );
    expect(refused).toBeGreaterThan(0);
    expect(most).toBeGreaterThan(PROCESSES / 2);
    expect(most).toBeLessThanOrEqual(PROCESSES);
    expect(ownerProcesses).toBeLessThanOrEqual(PROCESSES);
    expect(await asRoot(b, "echo alive")).toBe("alive");
    for (let i = 0; i < 50 && !a.events.some((e) => e.kind === "MachineLimitReached"); i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const hit = a.events.find((e) => e.kind === "MachineLimitReached");
    expect(hit?.payload).toMatchObject({ limit: "processes", max: PROCESSES });
  });

  it("keeps the guest's memory within the cgroup's limit", async () => {
    const { limits } = a.handle.record;
    const cgroup = await MachineCgroup.of("t-jail-a");
    const limitBytes = (limits?.memoryMiB ?? 0) * 1024 * 1024;
    expect(await cgroup.memoryLimitBytes()).toBe(limitBytes);
    // More than the guest has: the guest's own OOM killer ends it, the host's limit holds.
    await asRoot(a, "perl -e '$x = q(x) x (600*1024*1024); print length $x' 2>&1; true");
    const peak = await cgroup.memoryPeakBytes();
    console.log(`memory: peak ${Math.round(peak / 2 ** 20)} MiB of a ${limits?.memoryMiB} MiB limit`);
    expect(peak).toBeLessThanOrEqual(limitBytes);
    expect(await asRoot(a, "echo alive")).toBe("alive");
  });

  it("leaves no cgroup behind when destroyed", async () => {
    const cgroup = await MachineCgroup.of("t-jail-b");
    await host.destroy("t-jail-b");
    expect(await cgroup.exists()).toBe(false);
  });
});
