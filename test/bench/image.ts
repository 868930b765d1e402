import { join } from "node:path";
import { DEFAULT_IMAGE } from "../../core/index.js";
import { hostConfigFromEnv } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { listVersions } from "../../host/image/versions.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { median, type Results } from "./results.js";

const NS = "gaol-bench-image";

/** MiB the file's blocks take on disk (the image is sparse). */
async function allocatedMiB(file: string): Promise<number> {
  const { stdout } = await run("du", ["-m", file]);
  return Number(stdout.split(/\s/)[0]);
}

/**
 * The default image's newest version against the one before it (the bare master, on a host
 * that setup upgraded), booted turn about on one LAN so both see the same stretch of the VM.
 */
export async function benchImage(work: string, results: Results, runs = 5): Promise<void> {
  const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(work, "state-image") };
  const versions = await listVersions(config, DEFAULT_IMAGE);
  const newest = versions.at(-1);
  const previous = versions.at(-2);
  if (!newest || !previous) {
    results.set("image: newest vs previous version", "one version only (nothing to compare)");
    return;
  }
  const owner = await createAccount("gaolbimg", 1554);
  const lan = await createTestLan(NS, 46, join(work, "image-lan"));
  const host = new Host(config, { bootTimeoutMs: 60_000 });
  host.warmUp();
  const samples = new Map<number, number[]>([
    [newest.version, []],
    [previous.version, []],
  ]);
  try {
    for (let i = 0; i < runs; i++) {
      for (const version of [previous.version, newest.version]) {
        const name = `bimg-${i}-${version}`;
        const t = Date.now();
        const handle = await host.provision({ name, owner: owner.name, imageVersion: version }, () => undefined);
        try {
          await handle.ready;
          samples.get(version)?.push(Date.now() - t);
        } finally {
          await host.destroy(name).catch(() => undefined);
        }
      }
    }
    const before = median(samples.get(previous.version) ?? []);
    const after = median(samples.get(newest.version) ?? []);
    results.set(`image: version ${previous.version}, provision → READY (median)`, before, "ms");
    results.set(`image: version ${newest.version}, provision → READY (median)`, after, "ms");
    results.set("  newest ÷ previous", after / before, "×");
    results.set(`image: version ${previous.version} on disk`, await allocatedMiB(previous.file), "MiB");
    results.set(`image: version ${newest.version} on disk`, await allocatedMiB(newest.file), "MiB");
  } finally {
    for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await lan.destroy();
    await removeAccount(owner.name);
  }
}
