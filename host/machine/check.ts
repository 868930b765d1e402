import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SshHostKey } from "../../core/index.js";
import type { CheckRun } from "../driver.js";
import { HostCommandError } from "../exec/error.js";
import { run } from "../exec/run.js";
import { generateHostKey } from "../keys/hostkeys.js";

/** The host's own key for running lab checks: in every guest's authorized_keys, `restrict`ed (no pty, no forwarding). */
export interface CheckKey {
  identity: string;
  authorizedLine: string;
}

/** The check key under dir, made the first time. */
export async function checkKey(dir: string): Promise<CheckKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identity = join(dir, "ssh_host_ed25519_key");
  const existing = await readFile(`${identity}.pub`, "utf8").catch(() => "");
  const publicKey = existing.trim() || (await generateHostKey(dir, "gaol-lab-check")).publicKey;
  return { identity, authorizedLine: `restrict ${publicKey.trim()}` };
}

// Written to a file first so that a script's #! line chooses its interpreter; stderr joins stdout in order.
const RUNNER = 'f=$(mktemp) && cat > "$f" && chmod 700 "$f" && "$f" 2>&1; r=$?; rm -f "$f"; exit $r';

/**
 * Runs script as root in the machine over ssh, the machine's host key pinned: its exit code and
 * output, or why it could not run (ssh's own failures exit 255; a timeout stops it).
 */
export async function runCheckScript(
  key: CheckKey,
  at: { ip: string; port: number; netns?: string },
  hostKeys: readonly SshHostKey[],
  script: string,
  timeoutMs: number,
): Promise<CheckRun> {
  const knownHosts = `${key.identity}.known_hosts.${at.ip}.${process.pid}.${Date.now()}`;
  await writeFile(knownHosts, hostKeys.map((k) => `${at.ip} ${k.publicKey}\n`).join(""), { mode: 0o600 });
  try {
    const { stdout } = await run(
      "ssh",
      [
        ...["-i", key.identity, "-p", String(at.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"],
        ...["-o", `UserKnownHostsFile=${knownHosts}`, "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"],
        `root@${at.ip}`,
        RUNNER,
      ],
      { netns: at.netns, input: script, timeoutMs },
    );
    return { exitCode: 0, output: stdout };
  } catch (error) {
    if (!(error instanceof HostCommandError)) throw error;
    if (error.timedOut) return { error: `timed out after ${Math.round(timeoutMs / 1000)} s`, output: error.stdout };
    if (error.exitCode === 255 || error.exitCode === undefined)
      return { error: `ssh could not run it: ${error.stderrTail || error.message}`, output: error.stdout };
    return { exitCode: error.exitCode, output: error.stdout };
  } finally {
    await rm(knownHosts, { force: true });
  }
}
