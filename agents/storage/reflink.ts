import { chmod, chown, rm } from "node:fs/promises";
import { run } from "../exec/run.js";
import type { DiskRequest, RootDisk } from "./disk.js";

/** A copy-on-write clone of the image file (btrfs, XFS): independent, instant, owned by the owner. */
export async function createReflinkDisk({ image, base, uid, gid }: DiskRequest): Promise<RootDisk> {
  const file = `${base}.img`;
  await run("cp", ["--reflink=always", image, file], { timeoutMs: 30_000 });
  try {
    await chown(file, uid, gid);
    await chmod(file, 0o600);
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
  return { ubd: file, files: [file], kind: "reflink" };
}
