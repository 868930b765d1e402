import { readFile } from "node:fs/promises";
import { UnknownOwnerError, ValidationError } from "../../core/index.js";
import { run } from "../exec/run.js";

/** A host account that can own machines: the UML process runs as it. */
export interface HostAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Debian's UID_MIN: accounts below it are the system's own. */
const FIRST_USER_UID = 1000;
const NOBODY_UID = 65534;

/** Home paths travel on the kernel command line and into an fstab: no spaces or commas. */
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;

export function parsePasswdLine(line: string): HostAccount | undefined {
  const [name, , uid, gid, , home] = line.split(":");
  if (!name || uid === undefined || gid === undefined || home === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/** The account's line in /etc/passwd, read directly (most hosts keep their users there). */
async function fromPasswdFile(name: string): Promise<string | undefined> {
  const passwd = await readFile("/etc/passwd", "utf8").catch(() => "");
  return passwd.split("\n").find((line) => line.startsWith(`${name}:`));
}

/**
 * Looks the owner up in the host's account database; root and unknown names are refused.
 * /etc/passwd first, then getent for accounts from elsewhere (LDAP, sssd): a process
 * spawned by the agent costs ~5 ms of its CPU, more while machines boot.
 */
export async function lookupAccount(name: string): Promise<HostAccount> {
  const line =
    (await fromPasswdFile(name)) ??
    (await run("getent", ["passwd", name], { timeoutMs: 10_000 }).catch(() => ({ stdout: "" }))).stdout;
  const account = parsePasswdLine(line.trim());
  if (!account || account.name !== name || Number.isNaN(account.uid)) throw new UnknownOwnerError(name);
  // root and the system's own accounts (postgres, www-data, nobody…) never run a student's kernel.
  if (account.uid < FIRST_USER_UID || account.uid === NOBODY_UID) throw new UnknownOwnerError(name);
  if (!SAFE_PATH.test(account.home)) {
    throw new ValidationError([{ field: "owner", message: `home ${account.home} has characters gaol cannot mount` }]);
  }
  return account;
}
