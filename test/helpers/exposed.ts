import { lstat, readdir } from "node:fs/promises";
import { join, relative } from "node:path";

/**
 * Files under dir that any other local account can read: world-readable, reached through
 * directories it can enter. A file in a 0700 directory is not exposed, whatever its own mode
 * (PGlite makes its files 0666).
 */
export async function exposedPaths(dir: string, skip: readonly string[] = []): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const rel = relative(dir, path) || ".";
    if (skip.includes(rel)) return;
    const st = await lstat(path).catch(() => undefined);
    if (!st || st.isSymbolicLink()) return;
    if (!st.isDirectory() && st.mode & 0o004) found.push(rel);
    if (!st.isDirectory() || !(st.mode & 0o001)) return;
    for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
  return found;
}
