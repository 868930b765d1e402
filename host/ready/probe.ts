import { once } from "node:events";
import { mkdir, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startHelper } from "../exec/run.js";
import type { SshHostKey } from "../keys/hostkeys.js";
import { provenHostKey } from "./ssh-kex.js";

/** How long one key exchange may take before the sshd counts as not answering. */
export const PROBE_ATTEMPT_MS = 3000;
const RELAY_SCRIPT = fileURLToPath(new URL("./netns-relay.mjs", import.meta.url));
const RELAY_DIR = "/run/gaol-relay";
const relays = new Map<string, { inode: number; socket: Promise<string>; stop: () => void }>();

/**
 * The unix socket of this process's relay into netns (started on first use, one per
 * namespace, ending with this process): a probe through it costs no process spawn. A
 * namespace deleted and made again under the same name gets a new relay: the old one
 * still sits in the old namespace.
 */
async function relayInto(netns: string): Promise<string> {
  const { ino: inode } = await stat(join("/run/netns", netns));
  const running = relays.get(netns);
  if (running?.inode === inode) return running.socket;
  running?.stop();
  let control: Duplex | undefined;
  const socket = (async () => {
    // Root's alone: whoever can connect here reaches into the namespace.
    await mkdir(RELAY_DIR, { recursive: true, mode: 0o700 });
    const path = join(RELAY_DIR, `${netns}.sock`);
    control = startHelper(process.execPath, [RELAY_SCRIPT, path], { netns });
    control.on("error", () => undefined);
    const [line] = (await once(control, "data")) as [Buffer];
    if (!line.toString().startsWith("listening")) throw new Error(`netns relay for ${netns} did not start`);
    return path;
  })();
  const relay = { inode, socket, stop: () => control?.destroy() };
  relays.set(netns, relay);
  const forget = () => relays.get(netns) === relay && relays.delete(netns);
  socket.then(() => control?.once("close", forget), forget);
  return socket;
}

/** A TCP connection to ip:port, from inside netns when given (through a relay: Node cannot enter one). */
export async function connectTo(ip: string, port: number, netns?: string): Promise<Duplex> {
  if (!netns) return connect({ host: ip, port });
  const socket = connect({ path: await relayInto(netns) });
  socket.write(`${ip} ${port}\n`);
  return socket;
}

/** What one key exchange with ip:port showed: the host key the sshd proved it holds, or why there was none. */
type Proof = { key: string } | { problem: string };

async function proofAt(ip: string, port: number, netns?: string, attemptMs = PROBE_ATTEMPT_MS): Promise<Proof> {
  let stream: Duplex | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream?.destroy();
  }, attemptMs);
  try {
    stream = await connectTo(ip, port, netns);
    const blob = await provenHostKey(stream);
    return { key: `ssh-ed25519 ${blob.toString("base64")}` };
  } catch (error) {
    return { problem: timedOut ? `no answer within ${attemptMs / 1000} s` : (error as Error).message };
  } finally {
    clearTimeout(timer);
    stream?.destroy();
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
  options: { netns?: string; signal?: AbortSignal },
): Promise<void> {
  // Quick retries first (sshd may be a moment from listening), then backing off to 1 s.
  // A first SYN lost while the guest's network comes up would hold a long attempt for the
  // kernel's SYN retransmits (1 s, then 3 s): the first attempts are short, later ones long
  // enough for a key exchange on a host busy with a burst of boots.
  let attempt = 0;
  for (let interval = 20; !options.signal?.aborted; interval = Math.min(interval * 2, 1000)) {
    const attemptMs = Math.min(800 + 400 * attempt++, PROBE_ATTEMPT_MS);
    const proof = await proofAt(ip, port, options.netns, attemptMs);
    if ("key" in proof && proof.key === expected.publicKey) return;
    await sleep(interval);
  }
  throw new Error("readiness probe aborted");
}

/**
 * One attempt at the same proof, for a machine already READY: undefined when the sshd at
 * ip:port proved the expected host key, else what went wrong. Nothing the guest prints counts.
 */
export async function hostKeyProblem(
  ip: string,
  port: number,
  expected: SshHostKey,
  options: { netns?: string } = {},
): Promise<string | undefined> {
  const proof = await proofAt(ip, port, options.netns);
  if ("problem" in proof) return `ssh at ${ip}:${port}: ${proof.problem}`;
  return proof.key === expected.publicKey ? undefined : `the sshd at ${ip}:${port} proved another host key`;
}
