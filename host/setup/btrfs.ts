import { existsSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../exec/run.js";

/** The filesystem type holding path ("" when path does not exist). */
async function filesystemType(path: string): Promise<string> {
  try {
    const { stdout } = await run("findmnt", ["-n", "-o", "FSTYPE", "--target", path], { timeoutMs: 10_000 });
    return stdout.trim().split("\n")[0] ?? "";
  } catch {
    return "";
  }
}

/**
 * Makes root a btrfs filesystem: an existing one is used as it is; otherwise a
 * sparse loop-backed file under stateDir is created (once) and mounted there.
 */
export async function ensureBtrfs(
  root: string,
  stateDir: string,
  log: (line: string) => void,
  sizeBytes = 64 * 2 ** 30,
): Promise<void> {
  await mkdir(root, { recursive: true });
  const file = join(stateDir, "btrfs.img");
  // Every user's root disk is inside: only root may read the file (it was 0644, so any account could).
  if (existsSync(file)) await chmod(file, 0o600);
  if ((await filesystemType(root)) === "btrfs") return;
  await mkdir(stateDir, { recursive: true, mode: 0o711 });
  const { stdout: kind } = await run("blkid", ["-o", "value", "-s", "TYPE", file]).catch(() => ({ stdout: "" }));
  if (kind.trim() !== "btrfs") {
    log(`creating a ${sizeBytes / 2 ** 30} GiB loop-backed btrfs at ${file}`);
    await run("truncate", ["-s", String(sizeBytes), file]);
    await chmod(file, 0o600);
    await run("mkfs.btrfs", ["-q", "-f", file], { timeoutMs: 120_000 });
  }
  log(`mounting ${file} at ${root}`);
  await run("mount", ["-o", "loop,noatime", file, root]);
}
