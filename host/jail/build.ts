import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HostConfig } from "../config.js";
import { run } from "../exec/run.js";

const SOURCE = fileURLToPath(new URL("./gaol-jail.c", import.meta.url));

/** `<root>/jail/gaol-jail`: the current build of the jailer, by the hash of its source. */
export function jailerPath(root: string): string {
  return join(root, "jail", "gaol-jail");
}

/**
 * Compiles the jailer unless a build of the same source exists (a second, not
 * minutes), and points `<root>/jail/gaol-jail` at it. It runs as root before it
 * drops to the owner, so only root may write it.
 */
export async function ensureJailer(config: HostConfig, log: (line: string) => void): Promise<string> {
  const source = await readFile(SOURCE);
  const key = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = join(config.root, "jail");
  const binary = join(dir, key, "gaol-jail");
  if (!existsSync(binary)) {
    log(`building the kernel jailer ${key}`);
    await mkdir(join(dir, key), { recursive: true, mode: 0o755 });
    const partial = `${binary}.${process.pid}.partial`;
    await run("gcc", ["-O2", "-Wall", "-Werror", "-o", partial, SOURCE]);
    await chmod(partial, 0o755);
    await rename(partial, binary);
  }
  const current = jailerPath(config.root);
  const link = `${current}.${process.pid}.new`;
  await rm(link, { force: true });
  await symlink(join(key, "gaol-jail"), link);
  await rename(link, current);
  return binary;
}
