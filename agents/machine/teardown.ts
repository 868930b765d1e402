import { rm } from "node:fs/promises";
import { deleteTap } from "../network/tap.js";
import { mconsole, mconsoleSocket } from "../uml/mconsole.js";
import { isKernelOf, killProcessGroup, killStragglers, waitForGroupExit } from "../uml/process.js";
import type { MachineRecord } from "./record.js";

export interface TeardownOptions {
  /** `halt` stops the kernel at once; `cad` asks the guest's init for a clean shutdown. */
  how?: "halt" | "cad";
  /** How long the kernel may take to exit by itself before the process group is killed. */
  graceMs?: number;
}

/**
 * Stops the kernel and removes everything the machine had on the host.
 * Idempotent: safe while booting, after a crash, or twice. Says whether the
 * kernel exited by itself within the grace period.
 */
export async function teardown(record: MachineRecord, dir: string, options: TeardownOptions = {}): Promise<boolean> {
  const exitedByItself = await stopKernel(record, options);
  await deleteTap(record.tap, record.netns);
  await Promise.all(record.disk.files.map((file) => rm(file, { force: true })));
  await rm(dir, { recursive: true, force: true });
  return exitedByItself;
}

/** Stops the kernel and every process of its group; says whether it exited by itself in time. */
export async function stopKernel(record: MachineRecord, options: TeardownOptions = {}): Promise<boolean> {
  const { pid } = record;
  let exitedByItself = false;
  if (pid !== undefined && (await isKernelOf(pid, record.umid))) {
    const graceMs = options.graceMs ?? 300;
    exitedByItself = await mconsole(mconsoleSocket(record.umlDir, record.umid), [options.how ?? "halt"], {
      netns: record.netns,
      timeoutMs: 300,
    }).then(
      () => waitForGroupExit(pid, graceMs),
      () => false,
    );
    if (!exitedByItself) await killProcessGroup(pid);
  } else if (pid !== undefined) {
    // The kernel is gone, but helpers it cloned (same command line) may not be, and they hold the tap.
    await killStragglers(pid, record.umid);
    await waitForGroupExit(pid, 2000);
  }
  return exitedByItself;
}
