import { rm } from "node:fs/promises";
import { join } from "node:path";
import { type HostConfig, paths } from "../config.js";
import { failpoint } from "../failpoints.js";
import { MachineCgroup } from "../jail/cgroup.js";
import { macFromId, tapNameFromId } from "../network/identity.js";
import { unguardTap } from "../network/port-security.js";
import { deleteTap } from "../network/tap.js";
import { mconsole, mconsoleSocket } from "../uml/mconsole.js";
import { isKernelOf, killProcessGroup, killStragglers, waitForGroupExit } from "../uml/process.js";
import type { MachineRecord } from "./record.js";

interface TeardownOptions {
  /**
   * `kill`: SIGKILL to the process group (the disk is discarded anyway, so nothing inside
   * needs to stop cleanly); `halt`: mconsole halt, then SIGKILL; `cad`: the guest's init
   * shuts down cleanly.
   */
  how?: "kill" | "halt" | "cad";
  /** How long the kernel may take to exit by itself before the process group is killed. */
  graceMs?: number;
}

/**
 * Stops the kernel and removes everything the machine had on the host.
 * Idempotent: safe while booting, after a crash, or twice. Says whether the
 * kernel exited by itself within the grace period.
 */
export async function teardown(record: MachineRecord, dir: string, options: TeardownOptions = {}): Promise<boolean> {
  let exitedByItself: boolean;
  if (options.how === "kill") {
    // Nothing inside needs its network to stop: the tap goes while the kernel dies (a persistent
    // tap that is still open disappears when its last descriptor closes).
    [exitedByItself] = await Promise.all([stopKernel(record, options), deleteTap(record.tap, record.netns)]);
  } else {
    exitedByItself = await stopKernel(record, options);
    await deleteTap(record.tap, record.netns);
  }
  await failpoint("during-destroy");
  // Whatever left the kernel's process group is still in its cgroup.
  if (record.jailer) await (await MachineCgroup.of(record.id)).remove();
  if (record.portSecurity) await unguardTap(record.tap, record.mac, record.allowedAddress, record.netns);
  await Promise.all([
    ...record.disk.files.map((file) => rm(file, { force: true })),
    rm(dir, { recursive: true, force: true }),
  ]);
  return exitedByItself;
}

/**
 * Removes what a machine whose agent died before its record was written may have left, by the
 * names its id gives them (tap, port security, cgroup and what is in it, root disk, directory).
 */
export async function sweep(config: HostConfig, id: string): Promise<void> {
  const tap = tapNameFromId(id);
  await deleteTap(tap, config.netns);
  if (config.isolation) {
    await (await MachineCgroup.of(id)).remove();
    await unguardTap(tap, macFromId(id), undefined, config.netns);
  }
  await rm(join(paths.gaols(config), `${id}.img`), { force: true });
  await rm(paths.machine(config, id), { recursive: true, force: true });
}

/** Stops the kernel and every process of its group; says whether it exited by itself in time. */
export async function stopKernel(record: MachineRecord, options: TeardownOptions = {}): Promise<boolean> {
  const { pid } = record;
  if (pid === undefined) return false;
  if (!(await isKernelOf(pid, record.umid))) {
    // The kernel is gone, but helpers it cloned (same command line) may not be, and they hold the tap.
    await killStragglers(pid, record.umid);
    await waitForGroupExit(pid, 2000);
    return false;
  }
  if (options.how === "kill") {
    await killProcessGroup(pid);
    return false;
  }
  const exitedByItself = await mconsole(mconsoleSocket(record.umlDir, record.umid), [options.how ?? "halt"], {
    netns: record.netns,
    timeoutMs: 300,
  }).then(
    () => waitForGroupExit(pid, options.graceMs ?? 300),
    () => false,
  );
  if (!exitedByItself) await killProcessGroup(pid);
  return exitedByItself;
}
