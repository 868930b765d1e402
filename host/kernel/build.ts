import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, symlink } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HostConfig } from "../config.js";
import { run } from "../exec/run.js";

const kernelDir = fileURLToPath(new URL("./", import.meta.url));
const SOURCE_PACKAGE = "linux-source-6.1";
const SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz";
/** Bump when the build steps below change in a way that changes the binary. */
const RECIPE = "1";

async function inputs(): Promise<{ fragment: string; patches: Array<{ name: string; text: string }> }> {
  const fragment = await readFile(join(kernelDir, "config-fragment"), "utf8");
  const names = (await readdir(join(kernelDir, "patches"))).filter((n) => n.endsWith(".patch")).sort();
  const patches = await Promise.all(
    names.map(async (name) => ({ name, text: await readFile(join(kernelDir, "patches", name), "utf8") })),
  );
  return { fragment, patches };
}

/** The cache key: the source package's version, the config fragment, the patches, the recipe. */
async function kernelBuildKey(): Promise<string> {
  const { stdout: version } = await run("dpkg-query", ["-W", "-f", "${Version}", SOURCE_PACKAGE]);
  const { fragment, patches } = await inputs();
  const hash = createHash("sha256").update(`${RECIPE}\n${version}\n${fragment}`);
  for (const p of patches) hash.update(`\n${p.name}\n${p.text}`);
  return hash.digest("hex").slice(0, 16);
}

function kernelPaths(config: HostConfig, key: string) {
  const dir = join(config.root, "kernel");
  return { dir, binary: join(dir, key, "linux"), current: join(dir, "linux") };
}

/**
 * Builds gaol's UML kernel from Debian's linux-source-6.1 unless a build with
 * the same inputs exists, and points `<root>/kernel/linux` at it.
 */
export async function ensureKernel(config: HostConfig, log: (line: string) => void): Promise<string> {
  const key = await kernelBuildKey();
  const { dir, binary, current } = kernelPaths(config, key);
  if (!existsSync(binary)) await buildKernel(config, key, binary, log);
  // Per process: two setups at once (test files side by side) must not trip over one link.
  const link = `${current}.${process.pid}.new`;
  await rm(link, { force: true });
  await symlink(join(key, "linux"), link);
  await rename(link, current);
  await mkdir(dir, { recursive: true });
  return binary;
}

async function buildKernel(config: HostConfig, key: string, binary: string, log: (line: string) => void) {
  const work = join(config.stateDir, "kernel-build", key);
  const tree = join(work, "linux-source-6.1");
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const started = Date.now();
  try {
    log(`building gaol's UML kernel ${key} from ${SOURCE_PACKAGE} (about 7 minutes on 2 cores; cached after)`);
    await run("tar", ["-xf", SOURCE_TARBALL, "-C", work], { timeoutMs: 600_000 });
    const { fragment, patches } = await inputs();
    for (const p of patches) {
      await run("patch", ["-p1", "--forward", "-i", join(kernelDir, "patches", p.name)], { cwd: tree });
    }
    const make = (...args: string[]) =>
      run("make", ["ARCH=um", ...args], { cwd: tree, timeoutMs: 3_600_000, env: { KBUILD_BUILD_USER: "gaol" } });
    await make("defconfig");
    const dotConfig = join(tree, ".config");
    await run("sh", ["-c", 'cat "$1" >> "$2"', "sh", join(kernelDir, "config-fragment"), dotConfig]);
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
