import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Named points in a machine's life where a test holds this process to inject a fault (FreeBSD's
 * fail points, etcd's gofail). Only with GAOL_FAILPOINT_DIR set: a test arms a point by creating
 * `<dir>/<name>.arm`; the next process to reach it removes that, writes `<dir>/<name>` (its pid)
 * and waits until the test deletes it. Unset, a point costs one lookup of an undefined variable.
 */
export const FAILPOINTS = [
  "after-root-disk",
  "after-tap",
  "after-kernel-start",
  "before-ready",
  "during-destroy",
] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

const dir = process.env.GAOL_FAILPOINT_DIR;

export async function failpoint(name: Failpoint): Promise<void> {
  if (!dir || !existsSync(join(dir, `${name}.arm`))) return;
  await rm(join(dir, `${name}.arm`), { force: true });
  const held = join(dir, name);
  await writeFile(held, `${process.pid}\n`);
  while (existsSync(held)) await new Promise((r) => setTimeout(r, 20));
}
