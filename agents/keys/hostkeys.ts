import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../exec/run.js";

export interface SshHostKey {
  type: string;
  fingerprintSha256: string;
  publicKey: string;
}

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

/** A fresh ed25519 host key for one machine, generated on the host before boot. */
export async function generateHostKey(dir: string, comment: string): Promise<SshHostKey> {
  const path = join(dir, "ssh_host_ed25519_key");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], { timeoutMs: 10_000 });
  return describeKey(await readFile(`${path}.pub`, "utf8"));
}
