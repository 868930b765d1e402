import { chmod, mkdir, realpath, stat } from "node:fs/promises";
import { dirname, sep } from "node:path";
import { HostConfigError } from "../../core/index.js";
import type { HostConfig } from "../config.js";
import { bridgeProblem } from "../network/lan.js";
import { tunProblem } from "./tun.js";

/** Mode bits as people write them. */
const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;
/** Whether an account that neither owns a file nor is in its group may do `bits` (o+x is 0o001) to it. */
const othersMay = (mode: number, bits: number) => (mode & bits) === bits;

/** Every directory from / down to the parent of path (path resolved: the kernel walks the real one). */
function ancestors(path: string): string[] {
  const found: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    found.unshift(dir);
    if (dir === sep || dir === dirname(dir)) return found;
  }
}

/** The ancestors of `path` that other accounts cannot pass through. */
async function closedAncestors(path: string): Promise<Array<{ dir: string; mode: number }>> {
  const closed: Array<{ dir: string; mode: number }> = [];
  for (const dir of ancestors(path)) {
    const { mode } = await stat(dir);
    if (!othersMay(mode, 0o001)) closed.push({ dir, mode });
  }
  return closed;
}

/** What to say of a path whose parents are closed, or undefined when none is. */
async function closedProblem(what: string, path: string): Promise<string | undefined> {
  const closed = await closedAncestors(path);
  if (closed.length === 0) return undefined;
  const list = closed.map(({ dir, mode }) => `${dir} (mode ${octal(mode)})`).join(", ");
  return (
    `${what}: machines' kernels run as their owners and cannot pass through ${list}: ` +
    `chmod o+x ${closed.map(({ dir }) => dir).join(" ")}, or choose a place whose parents every account may enter`
  );
}

/**
 * A directory of gaol's own (the state dir, GAOL_ROOT): made when missing, opened to other
 * accounts (o+x) when it is not (the agent does the same to the state dir before each boot);
 * its parents are not gaol's to change, so a closed one is a problem.
 */
export async function ownDirProblem(what: string, dir: string): Promise<string | undefined> {
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const real = await realpath(dir);
  const { mode } = await stat(real);
  if (!othersMay(mode, 0o001)) await chmod(real, (mode & 0o777) | 0o011);
  return closedProblem(`${what}=${dir}`, real);
}

/** The kernel must be a file every account may execute, in directories every account may enter. */
export async function kernelProblem(kernel: string): Promise<string | undefined> {
  const real = await realpath(kernel).catch(() => undefined);
  const file = real && (await stat(real));
  if (!real || !file)
    return `GAOL_KERNEL=${kernel} does not exist: run gaol setup (it builds gaol's kernel), or point GAOL_KERNEL at a UML kernel`;
  if (!file.isFile()) return `GAOL_KERNEL=${kernel} is not a file: point GAOL_KERNEL at a UML kernel`;
  if (!othersMay(file.mode, 0o001))
    return `GAOL_KERNEL=${kernel} is mode ${octal(file.mode)}: machines' kernels run as their owners, so every account must be able to execute it: chmod o+rx ${real}`;
  return closedProblem(`GAOL_KERNEL=${kernel}`, real);
}

/**
 * What would make every boot on this host fail, each with what to do; found at start, where
 * otherwise each machine would fail on its own (a kernel that cannot reach its directory
 * panics in make_umid with "Permission denied"). Fixes what is gaol's own to fix.
 */
export async function hostProblems(config: HostConfig, options: { tun?: string } = {}): Promise<string[]> {
  const problems = await Promise.all([
    ownDirProblem("GAOL_STATE_DIR", config.stateDir),
    ownDirProblem("GAOL_ROOT", config.root),
    kernelProblem(config.kernel),
    tunProblem(options.tun),
    bridgeProblem(config),
  ]);
  return problems.filter((p): p is string => p !== undefined);
}

/** Refuses a host no machine could boot on: a HostConfigError with every problem found. */
export async function checkHost(config: HostConfig): Promise<void> {
  const problems = await hostProblems(config);
  if (problems.length) throw new HostConfigError(problems);
}
