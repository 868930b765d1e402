import type { DiskRequest, RootDisk } from "./disk.js";

/**
 * UML's own copy-on-write: the kernel creates `<base>.cow` over the shared
 * read-only image on first boot. Used where the filesystem cannot reflink.
 * The cow file's directory must be writable by the owner.
 */
export async function createUbdCowDisk({ image, base }: DiskRequest): Promise<RootDisk> {
  const cow = `${base}.cow`;
  return { ubd: `${cow},${image}`, files: [cow], kind: "ubd-cow" };
}
