import { existsSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { MachineLimits } from "../../core/index.js";
import { run } from "../exec/run.js";

const V1_CONTROLLERS = ["memory", "pids", "cpu", "freezer"] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

/** Where this host's cgroups are: one v2 tree, or a v1 hierarchy per controller (hybrid hosts included). */
type Layout = { version: 2; root: string } | { version: 1; roots: Partial<Record<V1Controller, string>> };

let layout: Promise<Layout> | undefined;

/** The cgroup hierarchies mounted in this mount namespace. */
async function mounted(): Promise<{ unified?: string; roots: Partial<Record<V1Controller, string>> }> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const roots: Partial<Record<V1Controller, string>> = {};
  let unified: string | undefined;
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!before || !after) continue;
    const mountPoint = before.split(" ")[4] ?? "";
    const [type, , superOptions = ""] = after.split(" ");
    if (type === "cgroup2" && !unified) unified = mountPoint;
    if (type !== "cgroup") continue;
    for (const option of superOptions.split(",")) {
      if ((V1_CONTROLLERS as readonly string[]).includes(option)) roots[option as V1Controller] ??= mountPoint;
    }
  }
  return { unified, roots };
}

const OWN_MOUNTS = "/run/gaol/cgroup";

/**
 * `ip netns exec` (gaol serve in a namespace) gives its command a fresh /sys without the
 * cgroup mounts: mount the same hierarchies again, privately, as /proc/cgroups numbers them.
 */
async function mountHierarchies(): Promise<void> {
  const byHierarchy = new Map<string, string[]>();
  for (const line of (await readFile("/proc/cgroups", "utf8")).split("\n").slice(1)) {
    const [name, hierarchy, , enabled] = line.split("\t");
    if (!name || enabled !== "1") continue;
    byHierarchy.set(hierarchy ?? "0", [...(byHierarchy.get(hierarchy ?? "0") ?? []), name]);
  }
  for (const [hierarchy, controllers] of byHierarchy) {
    if (!controllers.some((c) => (V1_CONTROLLERS as readonly string[]).includes(c))) continue;
    // Hierarchy 0 is the unified (v2) tree; a v1 hierarchy mounts with all its co-mounted controllers.
    const dir = join(OWN_MOUNTS, hierarchy === "0" ? "unified" : controllers.join(","));
    await mkdir(dir, { recursive: true });
    const args =
      hierarchy === "0"
        ? ["-t", "cgroup2", "cgroup2", dir]
        : ["-t", "cgroup", "-o", controllers.join(","), "cgroup", dir];
    await run("mount", args);
  }
}

async function detect(): Promise<Layout> {
  let { unified, roots } = await mounted();
  if (!unified && Object.keys(roots).length === 0) {
    await mountHierarchies();
    ({ unified, roots } = await mounted());
  }
  // A v2 tree counts only where it holds the controllers (on hybrid hosts it holds none).
  if (unified) {
    const controllers = await readFile(join(unified, "cgroup.controllers"), "utf8").catch(() => "");
    if (["memory", "pids", "cpu"].every((c) => controllers.split(/\s+/).includes(c))) {
      return { version: 2, root: unified };
    }
  }
  if (!roots.memory || !roots.pids)
    throw new Error("this host has neither cgroup v2 nor v1 memory and pids controllers");
  return { version: 1, roots };
}

function cgroupLayout(): Promise<Layout> {
  layout ??= detect();
  return layout;
}

const GROUP = "gaol";

/**
 * One machine's cgroup (a directory per v1 controller, or one v2 directory), named by
 * its id so that a restarted agent finds it again without stored state.
 */
export class MachineCgroup {
  private constructor(
    private readonly layout: Layout,
    readonly id: string,
  ) {}

  static async of(id: string): Promise<MachineCgroup> {
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(id)) throw new Error(`not a machine id: ${id}`);
    return new MachineCgroup(await cgroupLayout(), id);
  }

  get version(): 1 | 2 {
    return this.layout.version;
  }

  private dirs(): string[] {
    if (this.layout.version === 2) return [join(this.layout.root, GROUP, this.id)];
    return Object.values(this.layout.roots).map((root) => join(root, GROUP, this.id));
  }

  private dir(controller: V1Controller): string | undefined {
    if (this.layout.version === 2) return join(this.layout.root, GROUP, this.id);
    const root = this.layout.roots[controller];
    return root && join(root, GROUP, this.id);
  }

  /** The files the jailer writes its pid into, before it becomes the kernel. */
  get procsFiles(): string[] {
    return this.dirs().map((dir) => join(dir, "cgroup.procs"));
  }

  /** Makes the cgroup (idempotent) and writes the limits. */
  async create(limits: MachineLimits): Promise<void> {
    const memory = String(limits.memoryMiB * 1024 * 1024);
    if (this.layout.version === 2) {
      const parent = join(this.layout.root, GROUP);
      await mkdir(parent, { recursive: true });
      // Controllers must be enabled on every level above the machine's group.
      for (const dir of [this.layout.root, parent]) {
        await writeFile(join(dir, "cgroup.subtree_control"), "+memory +pids +cpu");
      }
      const dir = join(parent, this.id);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "memory.max"), memory);
      await writeFile(join(dir, "memory.swap.max"), "0").catch(() => undefined);
      await writeFile(join(dir, "pids.max"), String(limits.processes));
      await writeFile(join(dir, "cpu.weight"), String(limits.cpuWeight));
      const quota = limits.cpuPercent ? `${limits.cpuPercent * 1000} 100000` : "max 100000";
      await writeFile(join(dir, "cpu.max"), quota);
      return;
    }
    for (const dir of this.dirs()) await mkdir(dir, { recursive: true });
    const mem = this.dir("memory") as string;
    await writeFile(join(mem, "memory.limit_in_bytes"), memory);
    // With swap accounting the guest may not move its memory to swap past the limit either.
    if (existsSync(join(mem, "memory.memsw.limit_in_bytes"))) {
      await writeFile(join(mem, "memory.memsw.limit_in_bytes"), memory);
    }
    await writeFile(join(this.dir("pids") as string, "pids.max"), String(limits.processes));
    const cpu = this.dir("cpu");
    if (cpu) {
      // v1 shares are weights over 1024 where v2's default weight is 100.
      await writeFile(join(cpu, "cpu.shares"), String(Math.round((limits.cpuWeight * 1024) / 100)));
      await writeFile(join(cpu, "cpu.cfs_period_us"), "100000");
      await writeFile(join(cpu, "cpu.cfs_quota_us"), limits.cpuPercent ? String(limits.cpuPercent * 1000) : "-1");
    }
  }

  /**
   * CPU time the machine's processes have used: v2 counts the whole cgroup's life; v1's cpu
   * controller keeps no usage, so it is the sum over the processes in it now (USER_HZ ticks).
   */
  async cpuSeconds(): Promise<number> {
    if (this.layout.version === 2) {
      const stat = await readFile(join(this.dir("cpu") as string, "cpu.stat"), "utf8").catch(() => "");
      return Number(/^usage_usec (\d+)$/m.exec(stat)?.[1] ?? 0) / 1e6;
    }
    let ticks = 0;
    for (const pid of await this.members()) {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      // After the command's closing parenthesis: utime, stime, cutime, cstime are fields 12–15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      for (const i of [11, 12, 13, 14]) ticks += Number(fields[i] ?? 0);
    }
    return ticks / 100;
  }

  /** Pids in the cgroup now (empty when it does not exist). */
  async members(): Promise<number[]> {
    const file = this.procsFiles[0];
    if (!file) return [];
    const text = await readFile(file, "utf8").catch(() => "");
    return text.split("\n").filter(Boolean).map(Number);
  }

  /**
   * SIGKILLs everything in the cgroup, however it forked or whatever group it left,
   * and waits until it is empty: `cgroup.kill` on v2, freeze then kill on v1.
   */
  async kill(deadlineMs = 5000): Promise<void> {
    const until = Date.now() + deadlineMs;
    if (this.layout.version === 2) {
      const dir = this.dirs()[0] as string;
      if (!existsSync(dir)) return;
      await writeFile(join(dir, "cgroup.kill"), "1");
    } else {
      const freezer = this.dir("freezer");
      // Frozen, nothing in it can fork while the kill goes round.
      if (freezer && existsSync(freezer)) await writeFile(join(freezer, "freezer.state"), "FROZEN");
      for (const pid of await this.members()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      if (freezer && existsSync(freezer)) await writeFile(join(freezer, "freezer.state"), "THAWED");
    }
    while ((await this.members()).length > 0) {
      if (Date.now() > until) throw new Error(`cgroup of machine ${this.id} not empty after SIGKILL`);
      if (this.layout.version === 1) {
        for (const pid of await this.members()) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {}
        }
      }
      await sleep(5);
    }
  }

  /** Kills what is left and removes the cgroup; idempotent. */
  async remove(): Promise<void> {
    await this.kill();
    for (const dir of this.dirs()) {
      await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
    }
  }

  async exists(): Promise<boolean> {
    return this.dirs().some((dir) => existsSync(dir));
  }

  private async memoryNumber(v1: string, v2: string): Promise<number> {
    const file = join(this.dir("memory") as string, this.layout.version === 2 ? v2 : v1);
    return Number((await readFile(file, "utf8")).trim());
  }

  /** The process limit the cgroup holds the machine to. */
  async processLimit(): Promise<number> {
    return Number((await readFile(join(this.dir("pids") as string, "pids.max"), "utf8")).trim());
  }

  memoryLimitBytes(): Promise<number> {
    return this.memoryNumber("memory.limit_in_bytes", "memory.max");
  }

  /** The most host memory the machine has used (v2 kernels before 5.19 have no peak: then its current use). */
  memoryPeakBytes(): Promise<number> {
    const v2 = existsSync(join(this.dir("memory") as string, "memory.peak")) ? "memory.peak" : "memory.current";
    return this.memoryNumber("memory.max_usage_in_bytes", v2);
  }

  /** How often each limit has stopped the machine so far. */
  async limitHits(): Promise<{ processes: number; memory: number }> {
    const read = (dir: string | undefined, file: string) =>
      dir ? readFile(join(dir, file), "utf8").catch(() => "") : Promise.resolve("");
    const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    const processes = field(await read(this.dir("pids"), "pids.events"), "max");
    if (this.layout.version === 2) {
      return { processes, memory: field(await read(this.dir("memory"), "memory.events"), "max") };
    }
    return { processes, memory: Number((await read(this.dir("memory"), "memory.failcnt")).trim() || 0) };
  }
}
