import { stat, unlink } from "node:fs/promises";
import type { HostConfig } from "../config.js";
import { listVersions } from "./versions.js";

/**
 * Deletes the versions of an image that no machine here uses and that a newer
 * version replaced more than graceMs ago (a provision may have just picked one).
 * The newest version is never collected. Returns the versions deleted.
 */
export async function collectImageVersions(
  config: HostConfig,
  image: string,
  inUse: ReadonlySet<number>,
  graceMs = 60_000,
): Promise<number[]> {
  const versions = await listVersions(config, image);
  const collected: number[] = [];
  for (let i = 0; i < versions.length - 1; i++) {
    const version = versions[i];
    const successor = versions[i + 1];
    if (!version || !successor || inUse.has(version.version)) continue;
    const replacedAt = (await stat(successor.file).catch(() => undefined))?.mtimeMs ?? Date.now();
    if (Date.now() - replacedAt < graceMs) continue;
    // The image file goes first: without it the version no longer exists.
    await unlink(version.file);
    for (const suffix of [".guest", ".sync.json"]) await unlink(`${version.file}${suffix}`).catch(() => undefined);
    collected.push(version.version);
  }
  return collected;
}
