import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import type { SshHostKey } from "../../core/index.js";

/** A TCP connection to a machine's address on its LAN (through a namespace's relay in tests). */
export type DialMachine = (ip: string, port: number) => Promise<Duplex>;

export interface SshTarget {
  ip: string;
  port: number;
  /** The keys the host proved at READY: the only ones this connection accepts. */
  hostKeys: readonly SshHostKey[];
}

/** The key blob of an OpenSSH public key line ("type base64 [comment]"). */
const blobOf = (publicKey: string): Buffer => Buffer.from(publicKey.trim().split(/\s+/)[1] ?? "", "base64");

/**
 * Logs in to a machine's sshd as root with the api's terminal key. The machine's host key is
 * pinned to what the host verified: a guest answering from another machine's address is refused.
 */
export async function connectSsh(dial: DialMachine, target: SshTarget, privateKey: string): Promise<ssh2.Client> {
  const pinned = target.hostKeys.map((k) => blobOf(k.publicKey)).filter((b) => b.length > 0);
  if (pinned.length === 0) throw new Error("the machine has no verified host key yet");
  const sock = await dial(target.ip, target.port);
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      client.end();
      sock.destroy();
      reject(error);
    };
    client.once("ready", () => {
      client.off("error", fail);
      resolve(client);
    });
    client.once("error", fail);
    client.connect({
      sock,
      username: "root",
      privateKey,
      readyTimeout: 10_000,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => pinned.some((p) => p.equals(key)),
    });
  });
}
