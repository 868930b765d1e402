import { Duplex } from "node:stream";
import { execa } from "execa";
import { HostCommandError } from "./error.js";

interface RunOptions {
  /** Kill the command after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Run as this host account, with its groups (never root's). */
  asUser?: { uid: number; gid: number };
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Each chunk of stdout as it arrives (progress output), besides the result at the end. */
  onStdout?: (chunk: string) => void;
  /** Stops the command (SIGTERM) when aborted. */
  signal?: AbortSignal;
}

/** The argument vector actually executed: namespace and identity wrappers first. */
export function commandLine(file: string, args: readonly string[], options: RunOptions = {}): string[] {
  const argv = [file, ...args];
  if (options.asUser) {
    const { uid, gid } = options.asUser;
    argv.unshift("setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--");
  }
  if (options.netns) argv.unshift("ip", "netns", "exec", options.netns);
  return argv;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs one host command from an argument array; never through a shell. */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [bin, ...rest] = commandLine(file, args, options);
  try {
    const subprocess = execa(bin as string, rest, {
      timeout: options.timeoutMs ?? 60_000,
      input: options.input,
      env: options.env,
      cwd: options.cwd,
      stripFinalNewline: true,
      forceKillAfterDelay: 1000,
      cancelSignal: options.signal,
    });
    const { onStdout } = options;
    if (onStdout) subprocess.stdout?.on("data", (chunk: Buffer) => onStdout(chunk.toString()));
    const result = await subprocess;
    return { stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    throw HostCommandError.from([bin as string, ...rest], error);
  }
}

/** Like run, but a non-zero exit is an answer (false), not an error. */
export async function succeeds(file: string, args: readonly string[], options: RunOptions = {}): Promise<boolean> {
  try {
    await run(file, args, options);
    return true;
  } catch (error) {
    if (error instanceof HostCommandError && error.exitCode !== undefined && !error.timedOut) return false;
    throw error;
  }
}

export interface Launched {
  pid: number;
  /** Settles when the process exits (never rejects). */
  exited: Promise<{ exitCode?: number; signal?: string }>;
}

/**
 * Starts a long-lived process in its own session and process group, with
 * stdout and stderr going to an already-open file, so that it outlives the
 * agent and can be re-adopted by pid.
 */
export function launch(file: string, args: readonly string[], options: RunOptions & { outputFd: number }): Launched {
  const [bin, ...rest] = commandLine(file, args, options);
  const child = execa(bin as string, rest, {
    detached: true,
    stdin: "ignore",
    // execa's types name only fds 3–9; any open descriptor works.
    stdout: options.outputFd as 3,
    stderr: options.outputFd as 3,
    env: options.env,
    extendEnv: false,
    cwd: options.cwd,
    reject: false,
  });
  if (child.pid === undefined) throw HostCommandError.from([bin as string, ...rest], new Error("could not start"));
  child.unref();
  const exited = child.then(
    (r) => ({ exitCode: r.exitCode, signal: r.signal }),
    (e) => ({ exitCode: (e as { exitCode?: number }).exitCode, signal: (e as { signal?: string }).signal }),
  );
  return { pid: child.pid, exited };
}

/**
 * A helper process for the life of this one (the probe's relay into a network namespace):
 * its stdin and stdout as one stream, which keeps nothing alive by itself (it ends with
 * this process, whose exit closes the helper's stdin). Destroying the stream kills it.
 */
export function startHelper(file: string, args: readonly string[], options: RunOptions = {}): Duplex {
  const [bin, ...rest] = commandLine(file, args, options);
  const child = execa(bin as string, rest, { stdin: "pipe", stdout: "pipe", stderr: "ignore", reject: false });
  child.unref();
  for (const pipe of [child.stdin, child.stdout]) (pipe as unknown as { unref?: () => void })?.unref?.();
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  stream.on("close", () => child.kill("SIGKILL"));
  return stream;
}
