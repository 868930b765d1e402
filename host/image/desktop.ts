import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_IMAGE, DESKTOP_IMAGE } from "../../core/index.js";
import { type HostConfig, paths } from "../config.js";
import { run } from "../exec/run.js";
import { Reverter } from "../reverter.js";
import { ensureImageVersion } from "./build.js";
import { ensureDebianMaster } from "./master.js";
import type { ImageVersion } from "./versions.js";

/** A light desktop from Debian's packages: XFCE, a VNC server, a browser, a terminal and an editor. */
export const DESKTOP_PACKAGES = [
  "xfce4",
  "xfce4-terminal",
  "mousepad",
  // Xvnc: the X server is the VNC server, on the guest's loopback only (startenv).
  "tigervnc-standalone-server",
  "dbus-x11",
  "firefox-esr",
  "fonts-dejavu-core",
];

/** The marker startenv looks for: only machines of an image that has it start a desktop. */
export const DESKTOP_MARKER = "etc/gaol-desktop";

/** The desktop's root disks hold a browser and XFCE: more room than the default image's 2 GiB. */
const DESKTOP_IMAGE_BYTES = 6 * 2 ** 30;

/**
 * The desktop image: the default master, snapshotted, with the desktop's packages added by its
 * own apt (about 5 minutes from the mirror, once), then built into an image version as any other.
 */
export async function ensureDesktopImage(config: HostConfig, log: (line: string) => void): Promise<ImageVersion> {
  const base = await ensureDebianMaster(config, log);
  const master = paths.master(config, DESKTOP_IMAGE);
  if (!existsSync(join(master, DESKTOP_MARKER))) {
    const partial = `${master}.partial`;
    await run("btrfs", ["subvolume", "delete", partial]).catch(() => undefined);
    await Reverter.run(async (reverter) => {
      await run("btrfs", ["subvolume", "snapshot", base, partial]);
      reverter.add("partial desktop master", () =>
        run("btrfs", ["subvolume", "delete", partial]).then(() => undefined),
      );
      log(`adding a desktop (${DESKTOP_PACKAGES.join(", ")}) to a copy of the ${DEFAULT_IMAGE} master (minutes)`);
      // No service may start inside the master while it is being changed.
      const policy = join(partial, "usr", "sbin", "policy-rc.d");
      await writeFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
      const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" };
      await run("chroot", [partial, "apt-get", "update", "-q"], { env, timeoutMs: 600_000 });
      await run("chroot", [partial, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...DESKTOP_PACKAGES], {
        env,
        timeoutMs: 3_600_000,
      });
      await run("chroot", [partial, "apt-get", "clean"], { env });
      await rm(policy, { force: true });
      await mkdir(join(partial, "etc"), { recursive: true });
      await writeFile(
        join(partial, DESKTOP_MARKER),
        "# startenv starts Xvnc and XFCE as the owner when this file exists\n",
      );
      if (existsSync(master)) await run("btrfs", ["subvolume", "delete", master]);
      await run("mv", ["-T", partial, master]);
    });
  }
  return ensureImageVersion(config, DESKTOP_IMAGE, log, { sizeBytes: DESKTOP_IMAGE_BYTES });
}
