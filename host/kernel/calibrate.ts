import { rmSync } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { launch } from "../exec/run.js";
import { killProcessGroup } from "../uml/process.js";

const cache = new Map<string, Promise<number | undefined>>();
const DEADLINE_MS = 10_000;

/**
 * The kernel's loops-per-jiffy on this host. Each UML boot otherwise spends
 * ~0.16 s of its ~0.18 s before init calibrating its delay loop; `lpj=` skips
 * that. Measured once per kernel and process by booting it with no root disk
 * (it calibrates, then panics looking for one). Undefined when it cannot tell.
 */
export function kernelLpj(kernel: string): Promise<number | undefined> {
  let measured = cache.get(kernel);
  if (!measured) {
    measured = calibrate(kernel).catch(() => undefined);
    cache.set(kernel, measured);
  }
  return measured;
}

const PREFIX = "gaol-lpj-";

async function calibrate(kernel: string): Promise<number | undefined> {
  await reapStale();
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  const log = join(dir, "console");
  const output = await open(log, "w");
  // Its own process group, killed whole: UML's helper processes would outlive a kill of the kernel alone.
  // 64 MiB: with less, gaol's kernel stalls after calibrating instead of panicking (it still does now and
  // then). Not under `timeout`: the kernel calls setsid() and leaves any group it did not start.
  const kernelProcess = launch(kernel, [`uml_dir=${dir}`, "umid=lpj", "mem=64M", "con0=fd:0,fd:1", "con=null"], {
    outputFd: output.fd,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", TMPDIR: "/dev/shm" },
  });
  await output.close();
  await writeFile(join(dir, "pid"), String(kernelProcess.pid));
  // Should this process end first, the calibrating kernel must not stay behind.
  const killOnExit = () => {
    try {
      if (kernelProcess.pid > 1) process.kill(-kernelProcess.pid, "SIGKILL");
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);
  let exited = false;
  void kernelProcess.exited.then(() => {
    exited = true;
  });
  try {
    for (const until = Date.now() + DEADLINE_MS; Date.now() < until; await sleep(20)) {
      const lpj = Number(/lpj=(\d+)/.exec(await readFile(log, "utf8"))?.[1]);
      if (Number.isSafeInteger(lpj) && lpj > 0) return lpj;
      if (exited) return undefined;
    }
    return undefined;
  } finally {
    process.off("exit", killOnExit);
    await killProcessGroup(kernelProcess.pid).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Kills calibrating kernels whose process was killed before it could (a test worker at the end
 * of a run): they can stall after calibrating and stay for good. Each directory names its kernel's
 * pid; only a process still running with that very directory on its command line is killed.
 */
async function reapStale(): Promise<void> {
  const root = tmpdir();
  for (const name of await readdir(root).catch(() => [])) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(root, name);
    const age = Date.now() - (await stat(dir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age < DEADLINE_MS * 2) continue;
    const pid = Number(await readFile(join(dir, "pid"), "utf8").catch(() => ""));
    const cmdline = pid > 1 ? await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "") : "";
    if (cmdline.includes(`uml_dir=${dir}\0`)) await killProcessGroup(pid).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
