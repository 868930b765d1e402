import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { pipeThrough } from "../exec/run.js";
import type { SshHostKey } from "../keys/hostkeys.js";
import { provenHostKey } from "./ssh-kex.js";

const ATTEMPT_MS = 3000;

/** A TCP connection to ip:port, from inside netns when given (through a relay: Node cannot enter one). */
function connectTo(ip: string, port: number, netns?: string): Duplex {
  if (!netns) return connect({ host: ip, port });
  // The address and port are arguments, never part of the script.
  const relay = 'exec 3<>"/dev/tcp/$0/$1" || exit 1; cat <&3 & exec cat >&3';
  return pipeThrough("bash", ["-c", relay, ip, String(port)], { netns });
}

/**
 * The host key (`type base64`) the sshd at ip:port proves it holds, by a key exchange
 * whose signature verifies; undefined when nothing answers there yet.
 */
export async function provenHostKeyAt(ip: string, port: number, netns?: string): Promise<string | undefined> {
  const stream = connectTo(ip, port, netns);
  const timer = setTimeout(() => stream.destroy(), ATTEMPT_MS);
  try {
    const blob = await provenHostKey(stream);
    return `ssh-ed25519 ${blob.toString("base64")}`;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    stream.destroy();
  }
}

/**
 * Waits until an sshd at ip:port proves it holds the expected host key. Only that
 * counts: a guest that lies about its address cannot make this pass.
 */
export async function waitForHostKey(
  ip: string,
  port: number,
  expected: SshHostKey,
  options: { netns?: string; signal?: AbortSignal; intervalMs?: number; onMismatch?: (keys: string[]) => void },
): Promise<void> {
  // Quick retries first (sshd may be a moment from listening), then backing off to 1 s.
  for (let interval = options.intervalMs ?? 20; !options.signal?.aborted; interval = Math.min(interval * 2, 1000)) {
    const key = await provenHostKeyAt(ip, port, options.netns);
    if (key === expected.publicKey) return;
    if (key) options.onMismatch?.([key]);
    await sleep(interval);
  }
  throw new Error("readiness probe aborted");
}
