import { chmod, stat } from "node:fs/promises";
import { HostConfigError } from "../../core/index.js";

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/**
 * UML opens /dev/net/tun as the machine's owner, so ordinary users must be able to: makes it
 * 0666 when it is not. What is wrong when that cannot be done (with what to do), else undefined.
 */
export async function tunProblem(path = "/dev/net/tun"): Promise<string | undefined> {
  const device = await stat(path).catch(() => undefined);
  if (!device)
    return `${path} is missing: machines need it for their network; load the tun module (modprobe tun), or give a container the device`;
  if (!device.isCharacterDevice())
    return `${path} is not a character device: it should be the tun device (mknod ${path} c 10 200)`;
  if ((device.mode & 0o666) === 0o666) return undefined;
  const made = await chmod(path, 0o666).then(
    () => undefined,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  if (made === undefined) return undefined;
  return `${path} is mode ${octal(device.mode)} and chmod 0666 failed (${made}): machines' kernels open it as their owners, so every account must be able to read and write it`;
}

export async function ensureTunUsable(path = "/dev/net/tun"): Promise<void> {
  const problem = await tunProblem(path);
  if (problem) throw new HostConfigError([problem]);
}
