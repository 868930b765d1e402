import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ImageNotFoundError } from "../../core/index.js";
import { type HostConfig, paths } from "../config.js";

export interface ImageVersion {
  image: string;
  version: number;
  file: string;
}

/** Complete versions of an image, oldest first: only renamed-into-place `N.img` files count. */
export async function listVersions(config: HostConfig, image: string): Promise<ImageVersion[]> {
  const dir = paths.images(config, image);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((name) => /^(\d+)\.img$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ image, version: Number(m[1]), file: join(dir, m[0]) }))
    .sort((a, b) => a.version - b.version);
}

/** The version new machines get: the newest complete one. */
export async function newestVersion(config: HostConfig, image: string): Promise<ImageVersion> {
  const newest = (await listVersions(config, image)).at(-1);
  if (!newest) throw new ImageNotFoundError(image);
  return newest;
}

/** One version by number, for a machine that asks for it. */
export async function versionOf(config: HostConfig, image: string, version: number): Promise<ImageVersion> {
  const found = (await listVersions(config, image)).find((v) => v.version === version);
  if (!found) throw new ImageNotFoundError(`${image}@${version}`);
  return found;
}

/** The images this host has versions of (their directories under GAOL_ROOT/images). */
export async function imageNames(config: HostConfig): Promise<string[]> {
  return readdir(join(config.root, "images")).catch(() => [] as string[]);
}

/** Every complete version of every image on this host, with its size. */
export async function allVersions(config: HostConfig): Promise<Array<ImageVersion & { sizeBytes: number }>> {
  const all: Array<ImageVersion & { sizeBytes: number }> = [];
  for (const image of await imageNames(config)) {
    for (const v of await listVersions(config, image)) {
      const size = (await stat(v.file).catch(() => undefined))?.size ?? 0;
      all.push({ ...v, sizeBytes: size });
    }
  }
  return all;
}
