import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MachineLimits } from "../../core/index.js";
import type { SshHostKey } from "../keys/hostkeys.js";
import type { HostAccount } from "../owner/account.js";
import type { RootDisk } from "../storage/index.js";

/** What the host knows of one machine, on disk so a restarted agent can re-adopt it. */
export interface MachineRecord {
  id: string;
  name: string;
  owner: HostAccount;
  image: string;
  imageVersion: number;
  memoryMiB: number;
  disk: RootDisk;
  tap: string;
  mac: string;
  bridge: string;
  netns?: string;
  umid: string;
  umlDir: string;
  guestConfigDir: string;
  consoleLog: string;
  hostKeys: SshHostKey[];
  kernel: string;
  /** The jailer the kernel starts under, with the machine's cgroup; absent: not isolated. */
  jailer?: string;
  /** The kernel runs guest processes under seccomp instead of ptrace (`seccomp=on`); only ever jailed. */
  seccomp?: boolean;
  /** Its tap passes only its own MAC and its proven address (host/network/port-security.ts). */
  portSecurity?: boolean;
  /** The address its tap passes: the lease its kernel got before any guest code ran. */
  allowedAddress?: string;
  /** Where the current boot's output starts in the console log. */
  bootConsoleOffset?: number;
  /** What its cgroup allows it. */
  limits?: MachineLimits;
  /** PID 1 inside; absent in records written before it could be chosen. */
  init?: string;
  pid?: number;
  startedAt?: string;
  /** The api's reboot request this machine last acted on. */
  rebootGeneration?: number;
}

const RECORD_FILE = "machine.json";

export async function writeRecord(dir: string, record: MachineRecord): Promise<void> {
  const tmp = join(dir, `${RECORD_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, join(dir, RECORD_FILE));
}

export async function readRecord(dir: string): Promise<MachineRecord | undefined> {
  const text = await readFile(join(dir, RECORD_FILE), "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as MachineRecord);
}
