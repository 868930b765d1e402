import { chmod, stat } from "node:fs/promises";

/** UML opens /dev/net/tun as the machine's owner, so ordinary users must be able to. */
export async function ensureTunUsable(path = "/dev/net/tun"): Promise<void> {
  const { mode } = await stat(path);
  if ((mode & 0o666) !== 0o666) await chmod(path, 0o666);
}
