import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_INIT, machineLimits, memoryFileMiB, type validateSpec } from "../../core/index.js";
import { type HostConfig, paths } from "../config.js";
import { type Launched, launch } from "../exec/run.js";
import { failpoint } from "../failpoints.js";
import { type ImageVersion, versionOf } from "../image/versions.js";
import { jailArgs, kernelLibraries, pathInJail } from "../jail/args.js";
import { jailerPath } from "../jail/build.js";
import { MachineCgroup } from "../jail/cgroup.js";
import { kernelLpj } from "../kernel/calibrate.js";
import { kernelFeatures } from "../kernel/features.js";
import { generateHostKey } from "../keys/hostkeys.js";
import { macFromId, tapNameFromId } from "../network/identity.js";
import { guardTap, unguardTap } from "../network/port-security.js";
import { createTap, deleteTap } from "../network/tap.js";
import type { HostAccount } from "../owner/account.js";
import type { Reverter } from "../reverter.js";
import { createRootDisk } from "../storage/index.js";
import { diskRoomProblem } from "../storage/space.js";
import { kernelArgs } from "../uml/cmdline.js";
import { killProcessGroup } from "../uml/process.js";
import { type MachineRecord, writeRecord } from "./record.js";

type ValidSpec = ReturnType<typeof validateSpec>;

/**
 * Makes every host resource of one machine and starts its kernel as the
 * owner. Each step registers its undo with the reverter.
 */
export async function createAndLaunch(
  config: HostConfig,
  spec: ValidSpec,
  owner: HostAccount,
  version: ImageVersion,
  reverter: Reverter,
): Promise<{ record: MachineRecord; exited: Launched["exited"] }> {
  const full = await diskRoomProblem(config.root);
  if (full) throw new Error(full);
  const dir = paths.machine(config, spec.id);
  await mkdir(paths.machines(config), { recursive: true, mode: 0o711 });
  // The kernel runs as the owner and must traverse these to reach its own directory.
  for (const dir of [config.stateDir, paths.machines(config)]) await chmod(dir, 0o711);
  await mkdir(dir, { mode: 0o711 });
  reverter.add("machine directory", () => rm(dir, { recursive: true, force: true }));

  const umlDir = join(dir, "uml");
  const guestConfigDir = join(dir, "guest");
  for (const sub of [umlDir, guestConfigDir]) {
    await mkdir(sub, { mode: 0o700 });
    await chown(sub, owner.uid, owner.gid);
  }

  const hostKey = await generateHostKey(guestConfigDir, `root@${spec.name}`);
  await writeAuthorizedKeys(guestConfigDir, spec.sshPublicKeys, owner);
  for (const file of ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]) {
    await chown(join(guestConfigDir, file), owner.uid, owner.gid);
  }

  await mkdir(paths.gaols(config), { recursive: true, mode: 0o711 });
  const disk = await createRootDisk(
    { image: version.file, base: join(paths.gaols(config), spec.id), uid: owner.uid, gid: owner.gid },
    join(umlDir, "root"),
  );
  reverter.add("root disk", () => Promise.all(disk.files.map((f) => rm(f, { force: true }))).then(() => undefined));
  await failpoint("after-root-disk");

  const tap = tapNameFromId(spec.id);
  const mac = macFromId(spec.id);
  await createTap({
    name: tap,
    uid: owner.uid,
    gid: owner.gid,
    bridge: config.bridge,
    netns: config.netns,
    isolated: config.portIsolation,
  });
  reverter.add("tap", () => deleteTap(tap, config.netns));
  await failpoint("after-tap");
  if (config.isolation) {
    // Guarded before the kernel can send its first frame.
    await guardTap(tap, mac, config.netns);
    reverter.add("port security", () => unguardTap(tap, mac, undefined, config.netns));
  }

  const record: MachineRecord = {
    id: spec.id,
    name: spec.name,
    owner,
    image: version.image,
    imageVersion: version.version,
    memoryMiB: spec.memoryMiB,
    disk,
    tap,
    mac,
    bridge: config.bridge,
    netns: config.netns,
    // A fresh umid per boot: a stale one whose pid was reused makes UML pick a random umid.
    umid: `${spec.id.slice(0, 24)}-${randomBytes(3).toString("hex")}`,
    umlDir,
    guestConfigDir,
    consoleLog: join(dir, "console.log"),
    hostKeys: [hostKey],
    kernel: config.kernel,
    init: spec.init,
  };
  await writeRecord(dir, record);

  if (config.isolation) {
    const cgroup = await MachineCgroup.of(spec.id);
    record.limits = machineLimits(spec.memoryMiB, spec.limits);
    await cgroup.create(record.limits);
    reverter.add("cgroup", () => cgroup.remove());
    record.jailer = jailerPath(config.root);
    record.portSecurity = true;
    // A guest that takes over its kernel in seccomp mode issues host calls: as its owner, in the jail.
    record.seccomp = config.umlSeccomp;
  }

  const launched = await launchKernel(record, dir);
  reverter.add("kernel", () => killProcessGroup(launched.pid));
  await failpoint("after-kernel-start");
  return { record, exited: launched.exited };
}

/**
 * Starts (or restarts) the machine's kernel as its owner, from its record,
 * with a fresh umid, appending to its console log; records the new pid.
 */
/**
 * A stopped machine's new root disk from its own image version (a reset): the old one goes, the
 * new one is a reflink again (seconds), and everything else of the machine stays.
 */
export async function replaceRootDisk(config: HostConfig, record: MachineRecord, dir: string): Promise<void> {
  const version = await versionOf(config, record.image, record.imageVersion);
  for (const file of record.disk.files) await rm(file, { force: true });
  record.disk = await createRootDisk(
    { image: version.file, base: join(paths.gaols(config), record.id), uid: record.owner.uid, gid: record.owner.gid },
    join(record.umlDir, "root"),
  );
  await writeRecord(dir, record);
}

export async function launchKernel(record: MachineRecord, dir: string): Promise<Launched> {
  const consoleFile = await open(record.consoleLog, "a", 0o600);
  try {
    // A fresh umid per boot: a stale one whose pid was reused makes UML pick a random umid.
    record.umid = `${record.id.slice(0, 24)}-${randomBytes(3).toString("hex")}`;
    // What this boot's kernel prints starts here: the first lease after it is the kernel's own.
    record.bootConsoleOffset = (await consoleFile.stat()).size;
    const { owner } = record;
    const inside = (path: string) => (record.jailer ? pathInJail(record, path) : path);
    const features = await kernelFeatures(record.kernel);
    const args = kernelArgs({
      umid: record.umid,
      umlDir: inside(record.umlDir),
      memoryMiB: record.memoryMiB,
      ubd: record.disk.ubd.split(",").map(inside).join(","),
      tap: record.tap,
      mac: record.mac,
      hostname: record.name,
      owner,
      guestConfigDir: record.guestConfigDir,
      init: record.init,
      lpj: await kernelLpj(record.kernel),
      // The naive baseline's init must find eth0 as a plain Debian boot would.
      kernelDhcp: (record.init ?? DEFAULT_INIT) === DEFAULT_INIT && features.dhcp,
      tapTransport: features.tapTransport,
      seccomp: record.seccomp === true && record.jailer !== undefined,
    });
    const launched = record.jailer
      ? launch(record.jailer, [...(await jailFor(record, dir)), "--", record.kernel, ...args], {
          // The jailer enters the LAN's namespace itself, after joining the machine's cgroup.
          outputFd: consoleFile.fd,
          // The jailer gives the kernel an environment of its own; this one only finds `ip`.
          env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
          cwd: "/",
        })
      : launch(record.kernel, args, {
          netns: record.netns,
          asUser: { uid: owner.uid, gid: owner.gid },
          outputFd: consoleFile.fd,
          // Guest memory is a file in TMPDIR: tmpfs, never disk.
          env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: owner.home, TMPDIR: "/dev/shm" },
          cwd: record.umlDir,
        });
    record.pid = launched.pid;
    record.startedAt = new Date().toISOString();
    await writeRecord(dir, record);
    return launched;
  } finally {
    await consoleFile.close();
  }
}

/** The jailer's arguments for this boot: the machine's cgroup, and an empty directory for its root. */
async function jailFor(record: MachineRecord, dir: string): Promise<string[]> {
  const root = join(dir, "jail");
  await mkdir(root, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EEXIST") throw error;
  });
  const cgroup = await MachineCgroup.of(record.id);
  return jailArgs({
    record,
    root,
    libraries: await kernelLibraries(record.kernel),
    memoryFileMiB: memoryFileMiB(record.memoryMiB),
    cgroupProcs: cgroup.procsFiles,
  });
}

/**
 * The keys the guest's sshd reads (through hostfs, so a running machine sees a change at once).
 * The directory is its owner's: a new file and a rename, so a link they left there is replaced, never followed.
 */
export async function writeAuthorizedKeys(
  guestConfigDir: string,
  keys: readonly string[],
  owner: { uid: number; gid: number },
): Promise<void> {
  const file = join(guestConfigDir, "authorized_keys");
  const partial = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(partial, keys.map((k) => `${k}\n`).join(""), { mode: 0o600, flag: "wx" });
  await chown(partial, owner.uid, owner.gid);
  await rename(partial, file);
}
