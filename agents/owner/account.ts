import { UnknownOwnerError, ValidationError } from "../errors.js";
import { run } from "../exec/run.js";

/** A host account that can own machines: the UML process runs as it. */
export interface HostAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Home paths travel on the kernel command line and into an fstab: no spaces or commas. */
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;

export function parsePasswdLine(line: string): HostAccount | undefined {
  const [name, , uid, gid, , home] = line.split(":");
  if (!name || uid === undefined || gid === undefined || home === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/** Looks the owner up in the host's account database; root and unknown names are refused. */
export async function lookupAccount(name: string): Promise<HostAccount> {
  const { stdout } = await run("getent", ["passwd", name], { timeoutMs: 10_000 }).catch(() => ({ stdout: "" }));
  const account = parsePasswdLine(stdout.trim());
  if (!account || account.name !== name || account.uid === 0 || Number.isNaN(account.uid)) {
    throw new UnknownOwnerError(name);
  }
  if (!SAFE_PATH.test(account.home)) {
    throw new ValidationError([{ field: "owner", message: `home ${account.home} has characters gaol cannot mount` }]);
  }
  return account;
}
