import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, copyFile, mkdir, readdir, readFile, rename, rm, symlink } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { HostConfigError } from "../../core/index.js";
import type { HostConfig } from "../config.js";
import { run } from "../exec/run.js";
import {
  DEFAULT_KERNEL_SOURCE,
  type FetchedSource,
  fetchKernelSource,
  isKernelSource,
  KERNEL_SOURCES,
  type KernelSourceName,
  unpackKernelSource,
} from "./sources.js";

const kernelDir = fileURLToPath(new URL("./", import.meta.url));
/** Bump when the build steps below change in a way that changes the binary. */
const RECIPE = "2";

interface Inputs {
  /** The shared fragment, then the source's own. */
  fragment: string;
  /** The shared patches, then the source's own, each in name order. */
  patches: Array<{ name: string; path: string; text: string }>;
}

async function patchesIn(dir: string): Promise<Inputs["patches"]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".patch")).sort();
  return Promise.all(
    names.map(async (name) => ({ name, path: join(dir, name), text: await readFile(join(dir, name), "utf8") })),
  );
}

async function inputs(source: KernelSourceName): Promise<Inputs> {
  const own = join(kernelDir, "sources", source);
  const fragment = [
    await readFile(join(kernelDir, "config-fragment"), "utf8"),
    await readFile(join(own, "config-fragment"), "utf8"),
  ].join("\n");
  return {
    fragment,
    patches: [...(await patchesIn(join(kernelDir, "patches"))), ...(await patchesIn(join(own, "patches")))],
  };
}

/** The cache key: the source package and its version, the config fragments, the patches, the recipe. */
function kernelBuildKey(source: FetchedSource, { fragment, patches }: Inputs): string {
  const hash = createHash("sha256").update(`${RECIPE}\n${source.tree} ${source.version}\n${fragment}`);
  for (const p of patches) hash.update(`\n${p.name}\n${p.text}`);
  return hash.digest("hex").slice(0, 16);
}

/** Which source the host's kernel is built from: GAOL_KERNEL_SOURCE, else the newest gaol knows. */
export function kernelSourceFromEnv(env: NodeJS.ProcessEnv = process.env): KernelSourceName {
  const name = env.GAOL_KERNEL_SOURCE || DEFAULT_KERNEL_SOURCE;
  if (isKernelSource(name)) return name;
  throw new HostConfigError([
    `GAOL_KERNEL_SOURCE must be one of ${Object.keys(KERNEL_SOURCES).join(", ")} (it is ${name})`,
  ]);
}

/**
 * Builds gaol's UML kernel from a Debian kernel source package unless a build with the same
 * inputs exists, and points `<root>/kernel/linux` at it (the kernel machines boot).
 */
export async function ensureKernel(
  config: HostConfig,
  log: (line: string) => void,
  source: KernelSourceName = kernelSourceFromEnv(),
): Promise<string> {
  const binary = await buildKernelOnce(config, source, log);
  const current = join(config.root, "kernel", "linux");
  // Per process: two setups at once (test files side by side) must not trip over one link.
  const link = `${current}.${process.pid}.new`;
  await rm(link, { force: true });
  await symlink(relative(join(config.root, "kernel"), binary), link);
  await rename(link, current);
  return binary;
}

/** The binary built from source (built now if it is not yet), without making it the host's kernel. */
export async function buildKernelOnce(
  config: HostConfig,
  source: KernelSourceName,
  log: (line: string) => void,
): Promise<string> {
  const fetched = await fetchKernelSource(config, source, log);
  const wanted = await inputs(source);
  const key = kernelBuildKey(fetched, wanted);
  const binary = join(config.root, "kernel", key, "linux");
  if (!existsSync(binary)) await buildKernel(config, fetched, wanted, key, binary, log);
  return binary;
}

async function buildKernel(
  config: HostConfig,
  source: FetchedSource,
  { fragment, patches }: Inputs,
  key: string,
  binary: string,
  log: (line: string) => void,
) {
  const work = join(config.stateDir, "kernel-build", key);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const started = Date.now();
  try {
    log(
      `building gaol's UML kernel ${key} from ${source.tree} ${source.version} (about 10 minutes on 2 cores; cached after)`,
    );
    const tree = await unpackKernelSource(source, work);
    for (const p of patches) await run("patch", ["-p1", "--forward", "-i", p.path], { cwd: tree });
    const make = (...args: string[]) =>
      run("make", ["ARCH=um", ...args], { cwd: tree, timeoutMs: 3_600_000, env: { KBUILD_BUILD_USER: "gaol" } });
    await make("defconfig");
    const dotConfig = join(tree, ".config");
    await appendFile(dotConfig, `\n${fragment}\n`);
    await make("olddefconfig");
    await checkConfig(await readFile(dotConfig, "utf8"), fragment);
    await make(`-j${availableParallelism()}`, "linux");
    await run("strip", [join(tree, "linux")]);
    await mkdir(join(binary, ".."), { recursive: true });
    await copyFile(join(tree, "linux"), `${binary}.partial`);
    await rename(`${binary}.partial`, binary);
    log(`built ${binary} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Every `CONFIG_X=y` in the fragment must survive olddefconfig, or the fragment lies. */
export async function checkConfig(dotConfig: string, fragment: string): Promise<void> {
  const have = new Set(dotConfig.split("\n"));
  const lost = fragment
    .split("\n")
    .filter((line) => /^CONFIG_\w+=/.test(line))
    .filter((line) => !have.has(line));
  if (lost.length > 0) throw new Error(`kernel config dropped: ${lost.join(", ")}`);
}
