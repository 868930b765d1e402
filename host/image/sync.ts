import { existsSync } from "node:fs";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { GaolError } from "../../core/errors.js";
import { checkImageName, type ImageSource, parseImageSource } from "../../core/rules/image-source.js";
import { type HostConfig, paths } from "../config.js";
import { HostCommandError } from "../exec/error.js";
import { run } from "../exec/run.js";
import { Reverter } from "../reverter.js";
import { buildImageVersion } from "./build.js";
import type { ImageVersion } from "./versions.js";

export interface SyncProgress {
  phase: "transfer" | "build";
  bytes?: number;
  percent?: number;
  files?: number;
}

export interface SyncImageOptions {
  log?: (line: string) => void;
  onProgress?: (p: SyncProgress) => void;
  signal?: AbortSignal;
  /** The version number to build (the api's); the next one when absent. */
  version?: number;
}

export class ImageSyncError extends GaolError {
  readonly code = "IMAGE_SYNC_FAILED";
}

interface SyncedVersion extends ImageVersion {
  source: string;
  syncedAt: string;
  sizeBytes: number;
}

/** rsync --info=progress2 writes `  1,234,567  45%  1.2MB/s  0:00:01 (xfr#12, to-chk=3/20)` lines ended by \r. */
export function parseRsyncProgress(text: string): SyncProgress | undefined {
  const lines = text.split(/[\r\n]+/).filter((l) => /\d+%/.test(l));
  const last = lines.at(-1);
  if (!last) return undefined;
  const m = /^\s*([\d,]+)\s+(\d+)%.*?(?:xfr#(\d+))?/.exec(last);
  if (!m) return undefined;
  const files = /xfr#(\d+)/.exec(last)?.[1];
  return {
    phase: "transfer",
    bytes: Number(m[1]?.replace(/,/g, "")),
    percent: Number(m[2]),
    files: files === undefined ? undefined : Number(files),
  };
}

/** The last lines rsync printed on stderr, without its "rsync error: … (code N)" boilerplate only. */
function rsyncReason(error: unknown): string {
  if (!(error instanceof HostCommandError)) return (error as Error).message;
  if (error.timedOut) return "rsync timed out";
  const lines = error.stderrTail.split("\n").filter((l) => l.trim());
  return lines.find((l) => !/^rsync error:/.test(l)) ?? lines[0] ?? `rsync exited with ${error.exitCode}`;
}

/**
 * rsync SOURCE into a writable snapshot of the image's master, build a new immutable
 * image version from it, then make that snapshot the master. Until the version exists
 * nothing current changes; a failure or an abort deletes the staging snapshot and leaves
 * the previous version the newest.
 */
export async function syncImage(
  config: HostConfig,
  image: string,
  source: string,
  options: SyncImageOptions = {},
): Promise<SyncedVersion> {
  checkImageName(image);
  const parsed = parseImageSource(source);
  const log = options.log ?? (() => undefined);
  if (parsed.kind === "local" && !(await stat(parsed.path).catch(() => undefined))?.isDirectory())
    throw new ImageSyncError(`source ${parsed.path} is not a directory on this host`);
  const master = paths.master(config, image);
  const staging = `${master}.sync`;
  await mkdir(paths.masters(config), { recursive: true });
  // What an interrupted sync left behind is never used: start over.
  await run("btrfs", ["subvolume", "delete", staging]).catch(() => undefined);
  return Reverter.run(async (reverter) => {
    if (existsSync(master)) await run("btrfs", ["subvolume", "snapshot", master, staging]);
    else await run("btrfs", ["subvolume", "create", staging]);
    reverter.add("staging master", () => run("btrfs", ["subvolume", "delete", staging]).then(() => undefined));

    log(`rsync ${rsyncSourceArg(parsed)} → ${staging}`);
    let lastReport = 0;
    try {
      await run(
        "rsync",
        [
          "-aHAX",
          "--numeric-ids",
          "--delete",
          "--sparse",
          "--info=progress2",
          "--no-inc-recursive",
          "--",
          rsyncSourceArg(parsed),
          `${staging}/`,
        ],
        {
          timeoutMs: 6 * 3600_000,
          signal: options.signal,
          onStdout: (chunk) => {
            const progress = parseRsyncProgress(chunk);
            if (!progress || Date.now() - lastReport < 200) return;
            lastReport = Date.now();
            options.onProgress?.(progress);
          },
        },
      );
    } catch (error) {
      if (options.signal?.aborted) throw new ImageSyncError(`the sync of ${image} was cancelled`);
      throw new ImageSyncError(`rsync from ${source} failed: ${rsyncReason(error)}`);
    }
    options.onProgress?.({ phase: "build" });
    const version = await buildImageVersion(config, image, log, { from: staging, version: options.version });
    const { size } = await stat(version.file);
    const synced: SyncedVersion = { ...version, source, syncedAt: new Date().toISOString(), sizeBytes: size };
    await writeFile(`${version.file}.sync.json`, `${JSON.stringify({ source, syncedAt: synced.syncedAt })}\n`);
    // The version is complete: now the master becomes what it was built from.
    const old = `${master}.old`;
    await run("btrfs", ["subvolume", "delete", old]).catch(() => undefined);
    if (existsSync(master)) await run("mv", ["-T", master, old]);
    await run("mv", ["-T", staging, master]);
    await run("btrfs", ["subvolume", "delete", old]).catch(() => undefined);
    return synced;
  });
}

/** The source as rsync's argument: a directory's contents, not the directory itself. */
export function rsyncSourceArg(source: ImageSource): string {
  const raw =
    source.kind === "local" ? source.path : source.kind === "daemon" ? source.url : `${source.host}:${source.path}`;
  return raw.endsWith("/") ? raw : `${raw}/`;
}
