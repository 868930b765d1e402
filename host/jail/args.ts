import { existsSync } from "node:fs";
import { run } from "../exec/run.js";
import type { MachineRecord } from "../machine/record.js";

/** Inside the jail, the guest's memory file lives in a tmpfs of the machine's own here. */
export const JAIL_TMPDIR = "/tmp";

/** Devices the kernel opens: its LAN's taps, and randomness for the guest's hardware RNG. */
const DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/net/tun"];

const libraries = new Map<string, Promise<string[]>>();

/** The shared libraries (and loader) the kernel binary needs, from ldd, once per kernel. */
export function kernelLibraries(kernel: string): Promise<string[]> {
  let found = libraries.get(kernel);
  if (!found) {
    found = run("ldd", [kernel]).then(
      ({ stdout }) => [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1] as string),
      // A static kernel needs none ("not a dynamic executable").
      () => [],
    );
    libraries.set(kernel, found);
  }
  return found;
}

interface JailInput {
  record: MachineRecord;
  /** An empty directory the jail's root is mounted over (in the kernel's namespace only). */
  root: string;
  libraries: string[];
  memoryFileMiB: number;
  cgroupProcs: string[];
}

/**
 * The jailer's arguments for one machine: its root holds the kernel and its libraries,
 * the machine's own uml_dir, guest config and disk, the owner's home and a few devices;
 * no /proc, no /dev/shm, nothing else of the host, whatever guest root asks hostfs for.
 */
export function jailArgs({ record, root, libraries, memoryFileMiB, cgroupProcs }: JailInput): string[] {
  const { owner } = record;
  const args = ["--root", root, "--uid", String(owner.uid), "--gid", String(owner.gid), "--user", owner.name];
  for (const file of [record.kernel, ...libraries]) args.push("--ro-bind", file);
  args.push("--bind", record.umlDir, "--ro-bind", record.guestConfigDir);
  // ubd0=disk or ubd0=cow,image: the first is written, a backing image only read; a cow file
  // the kernel has not made yet lies in uml_dir, which is bound already.
  const [disk, ...backing] = record.disk.ubd.split(",");
  if (disk && !disk.startsWith(`${record.umlDir}/`)) args.push("--bind", disk);
  for (const file of backing) args.push("--ro-bind", file);
  if (existsSync(owner.home)) args.push("--bind", owner.home);
  for (const device of DEVICES) if (existsSync(device)) args.push("--dev", device);
  args.push("--tmpfs", JAIL_TMPDIR, String(memoryFileMiB));
  for (const file of cgroupProcs) args.push("--cgroup", file);
  if (record.netns) args.push("--netns", `/run/netns/${record.netns}`);
  // No core files of guest memory on the host; descriptors enough for many guest processes.
  args.push("--rlimit", "core=0", "--rlimit", "nofile=4096");
  const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: owner.home, TMPDIR: JAIL_TMPDIR };
  for (const [key, value] of Object.entries(env)) args.push("--env", `${key}=${value}`);
  args.push("--chdir", record.umlDir);
  return args;
}
