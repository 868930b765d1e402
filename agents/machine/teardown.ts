import { rm } from "node:fs/promises";
import { deleteTap } from "../network/tap.js";
import { mconsole, mconsoleSocket } from "../uml/mconsole.js";
import { isKernelOf, killProcessGroup, killStragglers, waitForGroupExit } from "../uml/process.js";
import type { MachineRecord } from "./record.js";

/**
 * Stops the kernel and removes everything the machine had on the host.
 * Idempotent: safe while booting, after a crash, or twice.
 */
export async function teardown(record: MachineRecord, dir: string, options: { haltMs?: number } = {}): Promise<void> {
  const { pid } = record;
  if (pid !== undefined && (await isKernelOf(pid, record.umid))) {
    const haltMs = options.haltMs ?? 300;
    const halted = await mconsole(mconsoleSocket(record.umlDir, record.umid), ["halt"], {
      netns: record.netns,
      timeoutMs: haltMs,
    }).then(
      () => waitForGroupExit(pid, haltMs),
      () => false,
    );
    if (!halted) await killProcessGroup(pid);
  } else if (pid !== undefined) {
    // The kernel is gone, but helpers it cloned (same command line) may not be.
    await killStragglers(pid, record.umid);
  }
  await deleteTap(record.tap, record.netns);
  await Promise.all(record.disk.files.map((file) => rm(file, { force: true })));
  await rm(dir, { recursive: true, force: true });
}
