import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostConfig } from "../config.js";
import { run } from "../exec/run.js";

/**
 * Where gaol keeps the static busybox every image version gets as /uml/bin/busybox: its
 * udhcpc renews the lease gaol's kernel took, and configures eth0 where the kernel could
 * not, in any image, whatever the image holds or its owner removes.
 */
export function guestBusyboxPath(config: HostConfig): string {
  return join(config.root, "guest", "busybox");
}

/**
 * Fetches Debian's busybox-static from the host's apt (the host's own release), unpacked
 * beside gaol's other files and never installed on the host. Undefined when it cannot:
 * images then renew leases with their own DHCP client, if they have one.
 */
export async function ensureGuestBusybox(config: HostConfig, log: (line: string) => void): Promise<string | undefined> {
  const target = guestBusyboxPath(config);
  if (existsSync(target)) return target;
  const dir = await mkdtemp(join(tmpdir(), "gaol-busybox-"));
  try {
    log("fetching busybox-static for the guests");
    const download = () => run("apt-get", ["download", "busybox-static"], { cwd: dir, timeoutMs: 300_000 });
    // A host that never ran apt-get update has no package lists to download from.
    await download().catch(async () => {
      await run("apt-get", ["update", "-q"], { timeoutMs: 300_000 });
      await download();
    });
    const deb = (await readdir(dir)).find((name) => name.endsWith(".deb"));
    if (!deb) throw new Error("apt-get download left no .deb");
    await run("dpkg-deb", ["-x", join(dir, deb), join(dir, "root")]);
    await mkdir(join(target, ".."), { recursive: true });
    await copyFile(join(dir, "root", "bin", "busybox"), `${target}.partial`);
    await chmod(`${target}.partial`, 0o755);
    await run(`${target}.partial`, ["true"]);
    await rename(`${target}.partial`, target);
    return target;
  } catch (error) {
    log(`no static busybox for the guests (${(error as Error).message}); images use their own DHCP client`);
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
