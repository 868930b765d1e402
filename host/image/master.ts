import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DEFAULT_IMAGE } from "../../core/index.js";
import { type HostConfig, paths } from "../config.js";
import { run } from "../exec/run.js";
import { Reverter } from "../reverter.js";
import { hostAptSources, hostCodename, pickDebianMirror } from "./mirror.js";

/** What a Debian master needs beyond minbase: sshd, DHCP, entropy, and what users expect. */
const DEBIAN_MASTER_PACKAGES = [
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

/** Packages added to the list after masters were made: [package, a file it installs]. */
const ADDED_LATER: ReadonlyArray<readonly [string, string]> = [["busybox-static", "bin/busybox"]];

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
    log(`debootstrap ${suite} from ${mirror} into ${master} (about 30 s)`);
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

/** A master made before a package joined the list gets it from the host's apt (the same Debian release). */
async function addLaterPackages(master: string, log: (line: string) => void): Promise<void> {
  const missing = ADDED_LATER.filter(([, file]) => !existsSync(join(master, file))).map(([name]) => name);
  if (missing.length === 0 || !existsSync(join(master, "var", "lib", "dpkg", "status"))) return;
  log(`adding ${missing.join(", ")} to the master ${master}`);
  const dir = await mkdtemp(join(tmpdir(), "gaol-debs-"));
  try {
    const download = () => run("apt-get", ["download", ...missing], { cwd: dir, timeoutMs: 300_000 });
    // A host that never ran apt-get update has no package lists to download from.
    await download().catch(async () => {
      await run("apt-get", ["update", "-q"], { timeoutMs: 300_000 });
      await download();
    });
    const debs = (await readdir(dir)).filter((name) => name.endsWith(".deb")).map((name) => join(dir, name));
    await run("dpkg", ["--root", master, "--install", ...debs], { timeoutMs: 300_000 });
  } catch (error) {
    // Only speed depends on them: startenv falls back to dhclient and iproute2.
    log(`could not add ${missing.join(", ")} to the master (${(error as Error).message}); booting without them`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function dropDownloadedPackages(root: string): Promise<void> {
  const archives = join(root, "var", "cache", "apt", "archives");
  for (const name of await readdir(archives).catch(() => [] as string[])) {
    if (name.endsWith(".deb")) await rm(join(archives, name));
  }
}
