import type { DiskRequest, RootDisk } from "./disk.js";
import { createReflinkDisk } from "./reflink.js";
import { createUbdCowDisk } from "./ubd-cow.js";

export type { DiskRequest, RootDisk } from "./disk.js";

/** Reflink where the filesystem can; UML's COW file where it cannot. */
export async function createRootDisk(request: DiskRequest, cowBase: string): Promise<RootDisk> {
  try {
    return await createReflinkDisk(request);
  } catch (error) {
    // A filesystem without reflinks, or image and gaol on different filesystems.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EOPNOTSUPP" || code === "ENOTSUP" || code === "EXDEV" || code === "EINVAL") {
      return createUbdCowDisk({ ...request, base: cowBase });
    }
    throw error;
  }
}
