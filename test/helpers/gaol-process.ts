import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";

const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));

/** The last lines of every gaol process a test started, printed by the test when something failed. */
export class ProcessLogs {
  private readonly lines: string[] = [];

  add(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 400) this.lines.shift();
  }

  tail(count = 80): string {
    return this.lines.slice(-count).join("\n");
  }
}

/**
 * `gaol <args>` as its own process group, the way a host runs it: tsx runs gaol in a child
 * process, and SIGKILL to the group (killGroup) reaches both, as a crash would. `bin`: another
 * checkout's bin/gaol (an older release).
 */
export function spawnGaol(
  args: string[],
  env: Record<string, string>,
  logs: ProcessLogs,
  tag: string,
  bin = gaolBin,
): ResultPromise {
  const child = execa(bin, args, {
    env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, HOME: "/root", ...env },
    reject: false,
    detached: true,
    all: true,
  });
  child.all?.on("data", (chunk: Buffer) => logs.add(`${tag}: ${chunk.toString().trimEnd()}`));
  return child;
}

/** kill -9 of a process group started by spawnGaol (or any detached child), waiting for it to end. */
export async function killGroup(child: ResultPromise | undefined): Promise<void> {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {}
  await child.catch(() => undefined);
}

/** Polls probe until it gives a value (a throw counts as not yet); throws `no <what>` after ms. */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + ms; ; ) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once GET url answers 200 (an api's /readyz: its database answers too). */
export function answers(url: string, ms = 60_000): Promise<true> {
  return until(`${url} answered`, ms, async () => ((await fetch(url)).ok ? true : undefined));
}

/**
 * `gaol serve --no-agent` on a Postgres server, once its /readyz answers; killed again if it never
 * does. Wrapped: a subprocess is a promise, and returning it bare would wait for its exit.
 */
export async function serveApi(options: {
  port: number;
  databaseUrl: string;
  stateDir: string;
  logs: ProcessLogs;
  tag: string;
  bin?: string;
}): Promise<{ child: ResultPromise }> {
  const { port, databaseUrl, stateDir, logs, tag, bin } = options;
  const args = ["serve", "--no-agent", "--port", String(port)];
  const child = spawnGaol(args, { GAOL_DATABASE_URL: databaseUrl, GAOL_STATE_DIR: stateDir }, logs, tag, bin);
  try {
    await answers(`http://127.0.0.1:${port}/readyz`);
  } catch (error) {
    await killGroup(child);
    throw error;
  }
  return { child };
}
