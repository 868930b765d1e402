import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Duplex, PassThrough, Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { sshString } from "../../host/keys/ssh-wire.js";
import { hostKeyProblem } from "../../host/ready/probe.js";
import { HostKeyProofError, kexInit, packet, provenHostKey, sshMpint } from "../../host/ready/ssh-kex.js";

const X25519_SPKI = 12;

/** The raw 32-byte public key of an ed25519 or x25519 KeyObject. */
function raw(key: KeyObject): Buffer {
  return key.export({ format: "der", type: "spki" }).subarray(X25519_SPKI);
}

/** Reads the client's version line and then whole packets' payloads off a socket. */
function clientReader(socket: Socket) {
  let buffer = Buffer.alloc(0);
  let version: string | undefined;
  const waiters: Array<() => void> = [];
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (const wake of waiters.splice(0)) wake();
  });
  const more = () => new Promise<void>((resolve) => waiters.push(resolve));
  return {
    async version(): Promise<string> {
      while (buffer.indexOf(10) < 0) await more();
      const end = buffer.indexOf(10);
      version = buffer.subarray(0, end).toString().replace(/\r$/, "");
      buffer = buffer.subarray(end + 1);
      return version;
    },
    async payload(): Promise<Buffer> {
      while (buffer.length < 4 || buffer.length < 4 + buffer.readUInt32BE(0)) await more();
      const length = buffer.readUInt32BE(0);
      const payload = buffer.subarray(5, 4 + length - (buffer[4] as number));
      buffer = buffer.subarray(4 + length);
      return payload;
    },
  };
}

/**
 * A minimal sshd for the exchange's first half: it answers with `hostKey` and signs
 * the exchange hash with `signer` (the host key's own private half unless forging).
 */
function fakeSshd(hostKey: { publicKey: KeyObject }, signer: KeyObject, options: { tamper?: boolean } = {}) {
  const serverVersion = "SSH-2.0-OpenSSH_9.2p1 fake";
  const hostKeyBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(raw(hostKey.publicKey))]);
  return createServer((socket) => {
    socket.on("error", () => undefined);
    void (async () => {
      const reader = clientReader(socket);
      const serverInit = kexInit();
      socket.write(`${serverVersion}\r\n`);
      socket.write(packet(Buffer.concat([Buffer.from([2]), sshString("ignore me")])));
      socket.write(packet(serverInit));
      const clientVersion = await reader.version();
      const clientInit = await reader.payload();
      const ecdhInit = await reader.payload();
      const clientPublic = ecdhInit.subarray(5, 37);
      const ours = generateKeyPairSync("x25519");
      const secret = diffieHellman({
        privateKey: ours.privateKey,
        publicKey: createPublicKey({
          key: Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), clientPublic]),
          format: "der",
          type: "spki",
        }),
      });
      const hash = createHash("sha256")
        .update(
          Buffer.concat([
            sshString(clientVersion),
            sshString(serverVersion),
            sshString(clientInit),
            sshString(serverInit),
            sshString(hostKeyBlob),
            sshString(clientPublic),
            sshString(raw(ours.publicKey)),
            sshMpint(secret),
          ]),
        )
        .digest();
      if (options.tamper) hash[0] = (hash[0] as number) ^ 1;
      const signature = Buffer.concat([sshString("ssh-ed25519"), sshString(sign(null, hash, signer))]);
      socket.write(
        packet(
          Buffer.concat([
            Buffer.from([31]),
            sshString(hostKeyBlob),
            sshString(raw(ours.publicKey)),
            sshString(signature),
          ]),
        ),
      );
    })();
  });
}

let server: Server | undefined;
afterEach(() => server?.close());

async function proveAgainst(s: Server): Promise<Buffer> {
  server = s;
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as { port: number };
  const socket = connect(port, "127.0.0.1");
  try {
    return await provenHostKey(socket);
  } finally {
    socket.destroy();
  }
}

describe("the host key proof (SSH key exchange up to the server's signature)", () => {
  it("returns the host key a server proves it holds", async () => {
    const hostKey = generateKeyPairSync("ed25519");
    const blob = await proveAgainst(fakeSshd(hostKey, hostKey.privateKey));
    expect(blob.subarray(-32)).toEqual(raw(hostKey.publicKey));
  });

  it("refuses a server that shows a key it cannot sign with", async () => {
    const shown = generateKeyPairSync("ed25519");
    const other = generateKeyPairSync("ed25519");
    await expect(proveAgainst(fakeSshd(shown, other.privateKey))).rejects.toThrow(HostKeyProofError);
  });

  it("refuses a signature over another exchange", async () => {
    const hostKey = generateKeyPairSync("ed25519");
    await expect(proveAgainst(fakeSshd(hostKey, hostKey.privateKey, { tamper: true }))).rejects.toThrow(
      /does not verify/,
    );
  });

  it("fails cleanly when the other end is no sshd or goes away", async () => {
    const answering = (text: string) =>
      Duplex.from({ readable: Readable.from([Buffer.from(text, "latin1")]), writable: new PassThrough() });
    await expect(provenHostKey(answering("HTTP/1.1 400 Bad Request\r\n\r\n"))).rejects.toThrow(HostKeyProofError);
    await expect(provenHostKey(answering(`SSH-2.0-x\r\n${"\xff".repeat(16)}`))).rejects.toThrow(/packet length/);
    await expect(provenHostKey(answering("SSH-1.5-old\r\n"))).rejects.toThrow(/not SSH 2/);
  });
});

describe("a health probe (one attempt at the same proof)", () => {
  const keyOf = (hostKey: { publicKey: KeyObject }) => ({
    type: "ssh-ed25519",
    fingerprintSha256: "",
    publicKey: `ssh-ed25519 ${Buffer.concat([sshString("ssh-ed25519"), sshString(raw(hostKey.publicKey))]).toString("base64")}`,
  });
  async function listening(s: Server): Promise<number> {
    server = s;
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    return (s.address() as { port: number }).port;
  }

  it("finds nothing wrong with the machine's own sshd, and says why otherwise", async () => {
    const hostKey = generateKeyPairSync("ed25519");
    const port = await listening(fakeSshd(hostKey, hostKey.privateKey));
    expect(await hostKeyProblem("127.0.0.1", port, keyOf(hostKey))).toBeUndefined();
    const other = generateKeyPairSync("ed25519");
    expect(await hostKeyProblem("127.0.0.1", port, keyOf(other))).toBe(
      `the sshd at 127.0.0.1:${port} proved another host key`,
    );
    server?.close();
    expect(await hostKeyProblem("127.0.0.1", port, keyOf(hostKey))).toMatch(
      `ssh at 127.0.0.1:${port}: connect ECONNREFUSED`,
    );
  });

  it("gives up on an sshd that accepts and never answers (a stopped or spinning guest)", async () => {
    const port = await listening(createServer((socket) => socket.on("error", () => undefined)));
    const hostKey = generateKeyPairSync("ed25519");
    expect(await hostKeyProblem("127.0.0.1", port, keyOf(hostKey))).toBe(
      `ssh at 127.0.0.1:${port}: no answer within 3 s`,
    );
  });
});
