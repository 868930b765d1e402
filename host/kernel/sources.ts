import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HostConfig } from "../config.js";
import { run } from "../exec/run.js";
import { hostAptSources, hostCodename, pickDebianMirror } from "../image/mirror.js";

/** The Linux sources gaol's kernel is built from: Debian's source packages, by their version. */
export const KERNEL_SOURCES = {
  // Seccomp mode, vector-only networking and five years of UML work since 6.1.
  "7.3": { package: "linux-source-7.3", suite: "trixie-backports" },
  // The fallback: bookworm's own kernel source (the host's suite).
  "6.1": { package: "linux-source-6.1", suite: undefined },
} as const;
export type KernelSourceName = keyof typeof KERNEL_SOURCES;
export const DEFAULT_KERNEL_SOURCE: KernelSourceName = "7.3";

export function isKernelSource(name: string): name is KernelSourceName {
  return Object.hasOwn(KERNEL_SOURCES, name);
}

/** A source package on this host: its .deb, its version, and the tarball's name inside it. */
export interface FetchedSource {
  name: KernelSourceName;
  deb: string;
  version: string;
  /** The tree's top directory in the tarball, e.g. linux-source-7.3. */
  tree: string;
}

const sourcesDir = (config: HostConfig) => join(config.root, "kernel", "sources");

/**
 * The source package's .deb under <root>/kernel/sources, downloaded once with a temporary apt
 * list (the host's apt configuration never learns of other suites) and never installed.
 */
export async function fetchKernelSource(
  config: HostConfig,
  name: KernelSourceName,
  log: (line: string) => void,
): Promise<FetchedSource> {
  const { package: pkg } = KERNEL_SOURCES[name];
  const dir = sourcesDir(config);
  const have = await cachedDebs(dir, pkg);
  const deb = have.at(-1) ?? (await download(dir, name, log));
  const { stdout: version } = await run("dpkg-deb", ["-f", deb, "Version"]);
  return { name, deb, version: version.trim(), tree: pkg };
}

async function cachedDebs(dir: string, pkg: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const debs = names.filter((n) => n.startsWith(`${pkg}_`) && n.endsWith("_all.deb")).map((n) => join(dir, n));
  let newest: { deb: string; version: string } | undefined;
  for (const deb of debs) {
    const version = (await run("dpkg-deb", ["-f", deb, "Version"])).stdout.trim();
    // dpkg's order of versions, not the names' (7.3.10 after 7.3.9, ~bpo before the release).
    const newer =
      !newest ||
      (await run("dpkg", ["--compare-versions", version, "gt", newest.version]).then(
        () => true,
        () => false,
      ));
    if (newer) newest = { deb, version };
  }
  return newest ? [newest.deb] : [];
}

async function download(dir: string, name: KernelSourceName, log: (line: string) => void): Promise<string> {
  const { package: pkg, suite: wanted } = KERNEL_SOURCES[name];
  const codename = await hostCodename();
  const suite = wanted ?? codename;
  const mirror = process.env.GAOL_MIRROR ?? pickDebianMirror(await hostAptSources(), codename);
  if (!mirror) throw new Error(`no Debian mirror in /etc/apt/sources*: set GAOL_MIRROR to fetch ${pkg} from ${suite}`);
  const work = join(dir, `apt.${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, "lists", "partial"), { recursive: true });
  await mkdir(join(work, "cache", "archives", "partial"), { recursive: true });
  const list = join(work, "sources.list");
  await writeFile(list, `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${suite} main\n`);
  const apt = [
    "-o",
    `Dir::Etc::sourcelist=${list}`,
    "-o",
    "Dir::Etc::sourceparts=-",
    "-o",
    `Dir::State::Lists=${join(work, "lists")}`,
    "-o",
    `Dir::Cache=${join(work, "cache")}`,
    "-o",
    "APT::Sandbox::User=root",
  ];
  try {
    log(`fetching ${pkg} from ${suite} at ${mirror} (about 170 MB, once)`);
    await run("apt-get", [...apt, "-q", "update"], { timeoutMs: 600_000 });
    // The suite's newest: a backports pin would otherwise hide it from a bare name.
    const { stdout } = await run("apt-cache", [...apt, "madison", pkg]);
    const version = stdout.split("\n")[0]?.split("|")[1]?.trim();
    if (!version) throw new Error(`${suite} at ${mirror} has no ${pkg}`);
    await run("apt-get", [...apt, "-q", "download", `${pkg}=${version}`], { cwd: work, timeoutMs: 1_800_000 });
    const [file] = (await readdir(work)).filter((n) => n.startsWith(`${pkg}_`) && n.endsWith(".deb"));
    if (!file) throw new Error(`apt-get download ${pkg}=${version} left no .deb`);
    const deb = join(dir, file);
    await rename(join(work, file), deb);
    return deb;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Unpacks the source tree of a fetched .deb into work (the tarball inside, then the tree). */
export async function unpackKernelSource(source: FetchedSource, work: string): Promise<string> {
  const tarball = `./usr/src/${source.tree}.tar.xz`;
  await run(
    "sh",
    ["-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" | tar -xJ -C "$3"', "sh", source.deb, tarball, work],
    { timeoutMs: 900_000 },
  );
  const tree = join(work, source.tree);
  if (!existsSync(tree)) throw new Error(`${source.deb} has no ${source.tree}/ in ${tarball}`);
  return tree;
}
