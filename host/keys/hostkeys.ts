import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SshHostKey } from "../../core/index.js";
import { sshString } from "./ssh-wire.js";

export type { SshHostKey };

/** OpenSSH's `SHA256:…` fingerprint of a public key line. */
export function fingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error("not an OpenSSH public key line");
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

export function describeKey(publicKeyLine: string): SshHostKey {
  const [type, blob] = publicKeyLine.trim().split(/\s+/);
  if (!type || !blob) throw new Error("not an OpenSSH public key line");
  return { type, publicKey: `${type} ${blob}`, fingerprintSha256: fingerprint(publicKeyLine) };
}

/**
 * An ed25519 key pair in OpenSSH's own files (PROTOCOL.key: "openssh-key-v1", no cipher),
 * made with Node's crypto: ssh-keygen would be a process per machine.
 */
function ed25519KeyFiles(comment: string): { privateKey: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d as string, "base64url");
  const pub = Buffer.from(jwk.x as string, "base64url");
  const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Padded 1, 2, 3… to the cipher's block size (8 for "none").
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    Buffer.from([0, 0, 0, 1]),
    sshString(blob),
    sshString(secret),
  ]).toString("base64");
  const lines = body.match(/.{1,70}/g) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${blob.toString("base64")} ${comment}\n`,
  };
}

/** A fresh ed25519 host key for one machine, generated on the host before boot. */
export async function generateHostKey(dir: string, comment: string): Promise<SshHostKey> {
  const path = join(dir, "ssh_host_ed25519_key");
  const { privateKey, publicKey } = ed25519KeyFiles(comment);
  await writeFile(path, privateKey, { mode: 0o600 });
  await writeFile(`${path}.pub`, publicKey, { mode: 0o644 });
  return describeKey(publicKey);
}
