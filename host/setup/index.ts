import { DEFAULT_IMAGE } from "../../core/index.js";
import type { HostConfig } from "../config.js";
import { ensureImageVersion } from "../image/build.js";
import { ensureGuestBusybox } from "../image/guest-busybox.js";
import { ensureDebianMaster } from "../image/master.js";
import type { ImageVersion } from "../image/versions.js";
import { ensureJailer } from "../jail/build.js";
import { ensureKernel } from "../kernel/build.js";
import { ensureBtrfs } from "./btrfs.js";
import { ensurePackages, HOST_PACKAGES } from "./packages.js";
import { ensureTunUsable } from "./tun.js";

/**
 * Makes this host able to run gaols; idempotent, so every start runs it:
 * packages, btrfs at the root, a usable tun device, gaol's kernel and jailer, the default image.
 */
export async function ensureHost(config: HostConfig, log: (line: string) => void): Promise<ImageVersion> {
  await ensurePackages(HOST_PACKAGES, log);
  await ensureBtrfs(config.root, config.stateDir, log);
  await ensureTunUsable();
  await ensureKernel(config, log);
  await ensureJailer(config, log);
  await ensureDebianMaster(config, log);
  await ensureGuestBusybox(config, log);
  return ensureImageVersion(config, DEFAULT_IMAGE, log);
}
