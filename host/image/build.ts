import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HostConfig, paths } from "../config.js";
import { run } from "../exec/run.js";
import { Reverter } from "../reverter.js";
import { guestBusyboxPath } from "./guest-busybox.js";
import { type ImageVersion, listVersions } from "./versions.js";

const guestDir = fileURLToPath(new URL("../guest/", import.meta.url));

/** gaol's files inside every image, at /uml/…: init, the DHCP hook, sshd's config. */
const GUEST_FILES = [
  { from: "startenv", to: "uml/bin/startenv", mode: 0o755 },
  { from: "dhcp-hook", to: "uml/bin/dhcp-hook", mode: 0o755 },
  { from: "sshd_config", to: "uml/etc/sshd_config", mode: 0o644 },
  // Only for `npm run bench`'s baseline: the boot gaol's startenv is measured against.
  { from: "startenv-naive", to: "uml/bin/startenv-naive", mode: 0o755 },
] as const;

/**
 * Turns a master directory into the next immutable image version: a btrfs
 * snapshot of the master gets gaol's guest files, `mkfs.ext4 -d` packs it
 * into a temporary file, and a rename makes the version exist at once.
 */
export async function buildImageVersion(
  config: HostConfig,
  image: string,
  log: (line: string) => void,
  { sizeBytes = 2 * 2 ** 30, from, version: wanted }: { sizeBytes?: number; from?: string; version?: number } = {},
): Promise<ImageVersion> {
  const master = from ?? paths.master(config, image);
  const dir = paths.images(config, image);
  await mkdir(dir, { recursive: true });
  const newest = (await listVersions(config, image)).at(-1)?.version ?? 0;
  // The api numbers synced versions for every host alike; alone, a host takes the next number.
  const version = wanted ?? newest + 1;
  if (version <= newest) throw new Error(`${image} version ${version} is not newer than this host's ${newest}`);
  // Names of this process's own: two setups at once (gaol serve beside gaol setup) must not share a half-made file.
  const snapshot = join(dir, `.${version}.${process.pid}.tree`);
  const partial = join(dir, `.${version}.${process.pid}.img.partial`);
  const file = join(dir, `${version}.img`);
  await removeLeftovers(dir);
  const started = Date.now();
  await Reverter.run(async (reverter) => {
    await run("btrfs", ["subvolume", "snapshot", master, snapshot]);
    const dropSnapshot = () => run("btrfs", ["subvolume", "delete", snapshot]).then(() => undefined);
    reverter.add("image snapshot", dropSnapshot);
    for (const sub of ["uml/bin", "uml/etc", "uml/run/gaol"]) await mkdir(join(snapshot, sub), { recursive: true });
    for (const f of GUEST_FILES) {
      await copyFile(join(guestDir, f.from), join(snapshot, f.to));
      await chmod(join(snapshot, f.to), f.mode);
    }
    await installGuestBusybox(config, snapshot);
    reverter.add("partial image", () => rm(partial, { force: true }));
    log(`building ${image} version ${version} (mkfs.ext4 -d, ${sizeBytes / 2 ** 30} GiB sparse)`);
    // mkfs takes a bare size in blocks: say MiB.
    const size = `${Math.floor(sizeBytes / 2 ** 20)}M`;
    await run("mkfs.ext4", ["-q", "-F", "-L", `${image}-${version}`, "-d", snapshot, partial, size], {
      timeoutMs: 600_000,
    });
    await chmod(partial, 0o444);
    await writeFile(`${file}.guest`, await buildInputsHash(config, master));
    // Another setup that finished first made the same version: keep the one machines may already use.
    if (existsSync(file)) await rm(partial, { force: true });
    else await run("mv", ["-T", partial, file]);
    await dropSnapshot();
  });
  log(`built ${file} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { image, version, file };
}

/** Half-made trees and files of builds whose process is gone (a crash, a kill). */
async function removeLeftovers(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const match = /^\.\d+\.(\d+)\.(tree|img\.partial)$/.exec(name);
    if (!match || existsSync(`/proc/${match[1]}`)) continue;
    if (match[2] === "tree") await run("btrfs", ["subvolume", "delete", join(dir, name)]).catch(() => undefined);
    else await rm(join(dir, name), { force: true });
  }
}

/** Bump when the way an image is built changes, so existing versions are rebuilt. */
const RECIPE = "3: mkfs size in MiB; masters may gain packages";

/** gaol's static busybox as /uml/bin/busybox, when the host has one (see guest-busybox.ts). */
async function installGuestBusybox(config: HostConfig, tree: string): Promise<void> {
  const busybox = guestBusyboxPath(config);
  if (!existsSync(busybox)) return;
  await copyFile(busybox, join(tree, "uml", "bin", "busybox"));
  await chmod(join(tree, "uml", "bin", "busybox"), 0o755);
}

/** Identifies the master's packages, the guest files, gaol's busybox and the recipe an image version was built with. */
async function buildInputsHash(config: HostConfig, master: string): Promise<string> {
  const hash = createHash("sha256").update(RECIPE);
  // A package added to the master (setup's, or an admin's) is a new image too.
  hash.update(await readFile(join(master, "var", "lib", "dpkg", "status")).catch(() => "no dpkg"));
  for (const f of GUEST_FILES) hash.update(f.to).update(await readFile(join(guestDir, f.from)));
  const busybox = guestBusyboxPath(config);
  hash.update(existsSync(busybox) ? await readFile(busybox) : "no busybox");
  return hash.digest("hex");
}

/** The newest version, built anew when there is none or gaol's guest files changed since. */
export async function ensureImageVersion(
  config: HostConfig,
  image: string,
  log: (line: string) => void,
  options: { sizeBytes?: number } = {},
) {
  const newest = (await listVersions(config, image)).at(-1);
  if (newest) {
    const builtWith = await readFile(`${newest.file}.guest`, "utf8").catch(() => "");
    if (builtWith === (await buildInputsHash(config, paths.master(config, image)))) return newest;
  }
  return buildImageVersion(config, image, log, options);
}
