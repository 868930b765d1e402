import { statfs } from "node:fs/promises";
import { ROOT_MIN_FREE_MIB } from "../../core/index.js";

/** MiB that an unprivileged writer may still use on the filesystem holding path. */
export async function freeMiB(path: string): Promise<number> {
  const { bavail, bsize } = await statfs(path);
  return Math.floor((bavail * bsize) / 2 ** 20);
}

/**
 * Why a new root disk may not go on the filesystem at root (with what to do), else undefined.
 * A reflink takes no room at first, but every block the guest writes does: a full filesystem
 * shows up inside as I/O errors on the root disk, long after provisioning said yes.
 */
export async function diskRoomProblem(root: string): Promise<string | undefined> {
  const free = await freeMiB(root);
  if (free >= ROOT_MIN_FREE_MIB) return undefined;
  return `GAOL_ROOT ${root} has ${free} MiB free, less than the ${ROOT_MIN_FREE_MIB} MiB a new machine's root disk needs: destroy machines no one uses or grow the filesystem (old image versions go by themselves once no machine uses them)`;
}
