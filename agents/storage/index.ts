import { HostCommandError } from "../exec/error.js";
import type { DiskRequest, RootDisk } from "./disk.js";
import { createReflinkDisk } from "./reflink.js";
import { createUbdCowDisk } from "./ubd-cow.js";

export type { DiskRequest, RootDisk } from "./disk.js";

/** Reflink where the filesystem can; UML's COW file where it cannot. */
export async function createRootDisk(request: DiskRequest, cowBase: string): Promise<RootDisk> {
  try {
    return await createReflinkDisk(request);
  } catch (error) {
    if (error instanceof HostCommandError && /not supported|Invalid cross-device/i.test(error.stderrTail)) {
      return createUbdCowDisk({ ...request, base: cowBase });
    }
    throw error;
  }
}
