import { existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DEFAULT_IMAGE } from "../../core/index.js";
import { type HostConfig, paths } from "../config.js";
import type { HostCommandError } from "../exec/error.js";
import { run } from "../exec/run.js";
import { Reverter } from "../reverter.js";
import { hostAptSources, hostCodename, pickDebianMirror } from "./mirror.js";

/** What a Debian master needs beyond minbase: sshd, DHCP, entropy. */
export const BASE_PACKAGES = [
  "openssh-server",
  "haveged",
  "isc-dhcp-client",
  "iproute2",
  "iputils-arping",
  "sudo",
  "procps",
  "mount",
  "ca-certificates",
  "less",
  // udhcpc: startenv's fastest DHCP client (one static binary).
  "busybox-static",
];

/** What a student expects on a first login, with no internet to fetch it from (issue 14). */
export const TOOLBOX_PACKAGES = [
  "python3",
  "curl",
  "git",
  "vim",
  "nano",
  "gcc",
  "make",
  // gcc cannot link a hello world without libc's headers and crt files.
  "libc6-dev",
  "iputils-ping",
  "man-db",
  "manpages",
  // gaol ssh -X: sshd forwards X only where xauth can store the session's cookie.
  "xauth",
];

const DEBIAN_MASTER_PACKAGES: readonly string[] = [...BASE_PACKAGES, ...TOOLBOX_PACKAGES];

/**
 * The default master: Debian (the host's own release) from the mirror the
 * host's apt sources name, debootstrapped into a btrfs subvolume. Built
 * under a temporary name and renamed, so a master either exists whole or not.
 */
export async function ensureDebianMaster(config: HostConfig, log: (line: string) => void, image = DEFAULT_IMAGE) {
  const master = paths.master(config, image);
  if (existsSync(join(master, "etc", "os-release"))) {
    await addLaterPackages(master, log);
    return master;
  }
  const suite = await hostCodename();
  const mirror = process.env.GAOL_MIRROR ?? pickDebianMirror(await hostAptSources(), suite);
  if (!mirror) throw new Error(`no Debian mirror for ${suite} in /etc/apt/sources*; set GAOL_MIRROR`);
  await mkdir(dirname(master), { recursive: true });
  const partial = `${master}.partial`;
  await run("btrfs", ["subvolume", "delete", partial]).catch(() => undefined);
  await Reverter.run(async (reverter) => {
    await run("btrfs", ["subvolume", "create", partial]);
    reverter.add("partial master", () => run("btrfs", ["subvolume", "delete", partial]).then(() => undefined));
    log(`debootstrap ${suite} from ${mirror} into ${master} (about 2 minutes)`);
    await run(
      "debootstrap",
      ["--variant=minbase", `--include=${DEBIAN_MASTER_PACKAGES.join(",")}`, suite, partial, mirror],
      { timeoutMs: 1_800_000 },
    );
    // The master must carry no host keys of its own: each machine gets its own.
    await run("find", [join(partial, "etc", "ssh"), "-maxdepth", "1", "-name", "ssh_host_*", "-delete"]);
    await dropDownloadedPackages(partial);
    await run("mv", ["-T", partial, master]);
  });
  return master;
}

/**
 * A master made before a package joined the list gets it with the master's own apt, from the
 * mirror it was debootstrapped from; a new dpkg status then rebuilds the image (build.ts).
 */
async function addLaterPackages(master: string, log: (line: string) => void): Promise<void> {
  const admindir = join(master, "var", "lib", "dpkg");
  if (!existsSync(join(admindir, "status"))) return;
  // One query on every start (setup is idempotent); it exits 1 naming a package dpkg never heard of.
  const query = ["--admindir", admindir, "-W", "-f", "${Package} ${db:Status-Abbrev}\n", ...DEBIAN_MASTER_PACKAGES];
  const { stdout } = await run("dpkg-query", query).catch((error: HostCommandError) => error);
  const installed = new Set(stdout.split("\n").flatMap((line) => (/^(\S+) ii/.exec(line)?.[1] ?? []) as string[]));
  const missing = DEBIAN_MASTER_PACKAGES.filter((name) => !installed.has(name));
  if (missing.length === 0) return;
  log(`adding ${missing.join(", ")} to the master ${master} (a minute or two)`);
  // No service may start inside the master while it is being changed.
  const policy = join(master, "usr", "sbin", "policy-rc.d");
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) await writeFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" };
  try {
    await run("chroot", [master, "apt-get", "update", "-q"], { env, timeoutMs: 600_000 });
    await run("chroot", [master, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...missing], {
      env,
      timeoutMs: 1_800_000,
    });
    await run("chroot", [master, "apt-get", "clean"], { env });
  } catch (error) {
    // Machines still boot without them; the next setup tries again.
    log(`could not add ${missing.join(", ")} to the master (${(error as Error).message.split("\n")[0]})`);
  } finally {
    if (!hadPolicy) await rm(policy, { force: true });
  }
}

async function dropDownloadedPackages(root: string): Promise<void> {
  const archives = join(root, "var", "cache", "apt", "archives");
  for (const name of await readdir(archives).catch(() => [] as string[])) {
    if (name.endsWith(".deb")) await rm(join(archives, name));
  }
}
