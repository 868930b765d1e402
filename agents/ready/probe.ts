import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../exec/run.js";
import type { SshHostKey } from "../keys/hostkeys.js";

/** The public keys (`type base64`) an sshd at ip:port presents, as ssh-keyscan reads them. */
export async function presentedHostKeys(ip: string, port: number, netns?: string): Promise<string[]> {
  const { stdout } = await run("ssh-keyscan", ["-T", "2", "-p", String(port), "-t", "ed25519", ip], {
    netns,
    timeoutMs: 5000,
  }).catch(() => ({ stdout: "" }));
  return stdout
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => line.split(/\s+/).slice(1, 3).join(" "));
}

/**
 * Waits until an sshd at ip:port presents the expected host key. Only a key
 * match counts: a guest that lies about its address cannot make this pass.
 */
export async function waitForHostKey(
  ip: string,
  port: number,
  expected: SshHostKey,
  options: { netns?: string; signal?: AbortSignal; intervalMs?: number; onMismatch?: (keys: string[]) => void },
): Promise<void> {
  // Quick retries first (sshd may be a moment from listening), then backing off to 1 s.
  for (let interval = options.intervalMs ?? 50; !options.signal?.aborted; interval = Math.min(interval * 2, 1000)) {
    const keys = await presentedHostKeys(ip, port, options.netns);
    if (keys.includes(expected.publicKey)) return;
    if (keys.length > 0) options.onMismatch?.(keys);
    await sleep(interval);
  }
  throw new Error("readiness probe aborted");
}
