import {
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  verify,
} from "node:crypto";
import type { Duplex } from "node:stream";
import { sshString } from "../keys/ssh-wire.js";

/**
 * The one thing gaol asks of a machine's sshd before READY: prove it holds the host key
 * the host made for it. This is the SSH transport's first key exchange (RFC 4253 §7–8,
 * curve25519-sha256 of RFC 8731, ssh-ed25519 of RFC 8709) up to the server's signature
 * over the exchange hash, and no further. ssh-keyscan spends ~0.15 s of host CPU on the
 * same step (it offers the post-quantum sntrup761 exchange first); this takes a few ms.
 */

const CLIENT_VERSION = "SSH-2.0-gaol_probe";
const MSG_KEXINIT = 20;
const MSG_KEX_ECDH_INIT = 30;
const MSG_KEX_ECDH_REPLY = 31;
const MAX_PACKET = 256 * 1024;
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");
const ED25519_SPKI = Buffer.from("302a300506032b6570032100", "hex");

export class HostKeyProofError extends Error {
  override name = "HostKeyProofError";
}

/** SSH's `mpint` of an unsigned big-endian number. */
export function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  const digits = unsigned.subarray(start);
  const sign = digits.length > 0 && (digits[0] as number) & 0x80 ? Buffer.from([0]) : Buffer.alloc(0);
  return sshString(Buffer.concat([sign, digits]));
}

/** Reads SSH `string`s from a payload, in order. */
class Reader {
  private offset: number;
  constructor(
    private readonly data: Buffer,
    offset = 0,
  ) {
    this.offset = offset;
  }
  string(): Buffer {
    if (this.offset + 4 > this.data.length) throw new HostKeyProofError("truncated packet");
    const length = this.data.readUInt32BE(this.offset);
    const end = this.offset + 4 + length;
    if (end > this.data.length) throw new HostKeyProofError("truncated packet");
    const value = this.data.subarray(this.offset + 4, end);
    this.offset = end;
    return value;
  }
}

/** An unencrypted binary packet: length, padding length, payload, at least 4 bytes of padding, to a multiple of 8. */
export function packet(payload: Buffer): Buffer {
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(1 + payload.length + padding);
  head.writeUInt8(padding, 4);
  return Buffer.concat([head, payload, randomBytes(padding)]);
}

/** A KEXINIT offering only what the proof needs (the rest is never used: no keys are taken). */
export function kexInit(): Buffer {
  const lists = [
    "curve25519-sha256,curve25519-sha256@libssh.org",
    "ssh-ed25519",
    "aes128-ctr",
    "aes128-ctr",
    "hmac-sha2-256",
    "hmac-sha2-256",
    "none",
    "none",
    "",
    "",
  ];
  return Buffer.concat([
    Buffer.from([MSG_KEXINIT]),
    randomBytes(16),
    ...lists.map((list) => sshString(list)),
    Buffer.from([0, 0, 0, 0, 0]),
  ]);
}

/** Splits what the server sends into its version line, then packets. */
class Incoming {
  private buffer = Buffer.alloc(0);
  private waiting?: () => void;
  private ended?: Error;

  constructor(stream: Duplex) {
    stream.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    stream.on("end", () => this.end(new HostKeyProofError("connection closed before the key exchange ended")));
    stream.on("close", () => this.end(new HostKeyProofError("connection closed before the key exchange ended")));
    stream.on("error", (error) => this.end(new HostKeyProofError(error.message)));
  }

  private end(error: Error): void {
    this.ended ??= error;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  private async more(): Promise<void> {
    if (this.ended) throw this.ended;
    await new Promise<void>((resolve) => {
      this.waiting = resolve;
    });
  }

  /** The server's `SSH-2.0-…` line; RFC 4253 lets other lines come first. */
  async version(): Promise<string> {
    for (;;) {
      const newline = this.buffer.indexOf(10);
      if (newline >= 0) {
        const line = this.buffer.subarray(0, newline).toString("latin1").replace(/\r$/, "");
        this.buffer = this.buffer.subarray(newline + 1);
        if (line.startsWith("SSH-")) {
          if (!line.startsWith("SSH-2.0-") && !line.startsWith("SSH-1.99-"))
            throw new HostKeyProofError(`not SSH 2: ${line}`);
          return line;
        }
        continue;
      }
      if (this.buffer.length > 8192) throw new HostKeyProofError("no SSH version line");
      await this.more();
    }
  }

  async payload(): Promise<Buffer> {
    for (;;) {
      if (this.buffer.length >= 5) {
        const length = this.buffer.readUInt32BE(0);
        if (length > MAX_PACKET || length < 5) throw new HostKeyProofError(`bad packet length ${length}`);
        if (this.buffer.length >= 4 + length) {
          const padding = this.buffer.readUInt8(4);
          const payload = this.buffer.subarray(5, 4 + length - padding);
          this.buffer = this.buffer.subarray(4 + length);
          return payload;
        }
      }
      await this.more();
    }
  }

  /** The next packet of one of these types; SSH_MSG_IGNORE, DEBUG and the like are skipped. */
  async expect(type: number): Promise<Buffer> {
    for (;;) {
      const payload = await this.payload();
      if (payload[0] === type) return payload;
      if (payload[0] === 1) throw new HostKeyProofError("the server disconnected");
      if ((payload[0] ?? 0) >= 20) throw new HostKeyProofError(`unexpected SSH message ${payload[0]}`);
    }
  }
}

function ed25519Key(blob: Buffer): KeyObject {
  const reader = new Reader(blob);
  const type = reader.string().toString();
  if (type !== "ssh-ed25519") throw new HostKeyProofError(`host key type ${type}, not ssh-ed25519`);
  const raw = reader.string();
  if (raw.length !== 32) throw new HostKeyProofError("malformed ed25519 host key");
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: "der", type: "spki" });
}

/**
 * Runs the key exchange over `stream` (already connected to the sshd) and resolves to the
 * host key blob the server proved it holds: its signature over this exchange's hash verifies.
 */
export async function provenHostKey(stream: Duplex): Promise<Buffer> {
  const incoming = new Incoming(stream);
  stream.write(`${CLIENT_VERSION}\r\n`);
  const clientInit = kexInit();
  stream.write(packet(clientInit));
  const serverVersion = await incoming.version();
  const serverInit = await incoming.expect(MSG_KEXINIT);
  const ours = generateKeyPairSync("x25519");
  const ourPublic = ours.publicKey.export({ format: "der", type: "spki" }).subarray(X25519_SPKI.length);
  stream.write(packet(Buffer.concat([Buffer.from([MSG_KEX_ECDH_INIT]), sshString(ourPublic)])));
  const reply = new Reader(await incoming.expect(MSG_KEX_ECDH_REPLY), 1);
  const hostKeyBlob = reply.string();
  const serverPublic = reply.string();
  const signatureBlob = reply.string();
  if (serverPublic.length !== 32) throw new HostKeyProofError("malformed curve25519 reply");
  const secret = diffieHellman({
    privateKey: ours.privateKey,
    publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, serverPublic]), format: "der", type: "spki" }),
  });
  const exchangeHash = createHash("sha256")
    .update(
      Buffer.concat([
        sshString(CLIENT_VERSION),
        sshString(serverVersion),
        sshString(clientInit),
        sshString(serverInit),
        sshString(hostKeyBlob),
        sshString(ourPublic),
        sshString(serverPublic),
        sshMpint(secret),
      ]),
    )
    .digest();
  const signature = new Reader(signatureBlob);
  const algorithm = signature.string().toString();
  if (algorithm !== "ssh-ed25519") throw new HostKeyProofError(`signature type ${algorithm}`);
  if (!verify(null, exchangeHash, ed25519Key(hostKeyBlob), signature.string()))
    throw new HostKeyProofError("the host key's signature over the exchange does not verify");
  return hostKeyBlob;
}
