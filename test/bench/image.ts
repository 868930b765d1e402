import { rm } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_IMAGE } from "../../core/index.js";
import { type HostConfig, hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { ensureImageVersion } from "../../host/image/build.js";
import { BASE_PACKAGES, TOOLBOX_PACKAGES } from "../../host/image/master.js";
import { type ImageVersion, listVersions } from "../../host/image/versions.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { median, type Results } from "./results.js";

const NS = "gaol-bench-image";

/** MiB the file's blocks take on disk (the image is sparse). */
async function allocatedMiB(file: string): Promise<number> {
  const { stdout } = await run("du", ["-m", file]);
  return Number(stdout.split(/\s/)[0]);
}

const BARE = "gaol-bench-bare";

/**
 * The default master without its first-day tools (issue 14's package set): a snapshot of it with
 * them purged in a chroot, offline, so a fresh host can compare what the tools cost a boot.
 */
async function bareImage(config: HostConfig): Promise<ImageVersion> {
  const master = paths.master(config, BARE);
  await run("btrfs", ["subvolume", "delete", master]).catch(() => undefined);
  await run("btrfs", ["subvolume", "snapshot", paths.master(config, DEFAULT_IMAGE), master]);
  const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" };
  const apt = (...args: string[]) => run("chroot", [master, ...args], { env, timeoutMs: 600_000 });
  // debootstrap marks every package it installed as wanted: only what minbase and the base set need stays.
  const { stdout } = await run("dpkg-query", [
    "--admindir",
    join(master, "var", "lib", "dpkg"),
    "-W",
    "-f",
    "${Package} ${Priority}\n",
  ]);
  const rows = stdout.split("\n").flatMap((line) => (line ? [line.split(" ") as [string, string]] : []));
  const kept = rows.filter(([, priority]) => priority === "required" || priority === "important").map(([p]) => p);
  await apt("apt-mark", "auto", ...rows.map(([p]) => p));
  await apt("apt-mark", "manual", ...kept, ...BASE_PACKAGES);
  await apt("apt-get", "purge", "-y", "-q", ...TOOLBOX_PACKAGES);
  await apt("apt-get", "autoremove", "--purge", "-y", "-q");
  return ensureImageVersion(config, BARE, () => undefined);
}

async function removeBareImage(config: HostConfig): Promise<void> {
  await run("btrfs", ["subvolume", "delete", paths.master(config, BARE)]).catch(() => undefined);
  await rm(paths.images(config, BARE), { recursive: true, force: true });
}

/**
 * The default image's newest version against a bare one (the same master without the first-day
 * tools), booted turn about on one LAN so both see the same stretch of the VM.
 */
export async function benchImage(work: string, results: Results, runs = 5): Promise<void> {
  const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(work, "state-image") };
  const newest = (await listVersions(config, DEFAULT_IMAGE)).at(-1);
  if (!newest) {
    results.set("image: default vs bare", "no default image (run gaol setup)");
    return;
  }
  const previous = await bareImage(config).catch(async (error: unknown) => {
    await removeBareImage(config);
    throw error;
  });
  const owner = await createAccount("gaolbimg", 1554);
  const lan = await createTestLan(NS, 46, join(work, "image-lan"));
  const host = new Host(config, { bootTimeoutMs: 60_000 });
  host.warmUp();
  const samples = new Map<ImageVersion, number[]>([
    [newest, []],
    [previous, []],
  ]);
  try {
    for (let i = 0; i < runs; i++) {
      for (const version of [previous, newest]) {
        const name = `bimg-${i}-${version.image === BARE ? "bare" : "tools"}`;
        const t = Date.now();
        const handle = await host.provision(
          { name, owner: owner.name, image: version.image, imageVersion: version.version },
          () => undefined,
        );
        try {
          await handle.ready;
          samples.get(version)?.push(Date.now() - t);
        } finally {
          await host.destroy(name).catch(() => undefined);
        }
      }
    }
    const before = median(samples.get(previous) ?? []);
    const after = median(samples.get(newest) ?? []);
    results.set("image: bare (no first-day tools), provision → READY (median)", before, "ms");
    results.set(`image: ${DEFAULT_IMAGE}@${newest.version} with the tools, provision → READY (median)`, after, "ms");
    results.set("  with tools ÷ bare", after / before, "×");
    results.set("image: bare on disk", await allocatedMiB(previous.file), "MiB");
    results.set(`image: ${DEFAULT_IMAGE}@${newest.version} on disk`, await allocatedMiB(newest.file), "MiB");
  } finally {
    await removeBareImage(config);
    for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await lan.destroy();
    await removeAccount(owner.name);
  }
}
