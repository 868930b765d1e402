import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../host/exec/run.js";
import { generateHostKey, type SshHostKey } from "../../host/keys/hostkeys.js";

export interface SshClient {
  /** Runs a command on the machine as user; the machine's host key is pinned. */
  exec(user: string, ip: string, command: string, hostKeys: SshHostKey[]): Promise<string>;
  publicKey: string;
  /** The private key's file. */
  identity: string;
}

/** An ssh client key of the test's own, used from inside the test LAN's namespace. */
export async function createSshClient(dir: string, netns: string): Promise<SshClient> {
  await mkdir(dir, { recursive: true });
  const key = await generateHostKey(dir, "gaol-test-client");
  const identity = join(dir, "ssh_host_ed25519_key");
  let n = 0;
  return {
    publicKey: key.publicKey,
    identity,
    async exec(user, ip, command, hostKeys) {
      const knownHosts = join(dir, `known_hosts.${n++}`);
      await writeFile(knownHosts, hostKeys.map((k) => `${ip} ${k.publicKey}\n`).join(""));
      const { stdout } = await run(
        "ssh",
        [
          "-i",
          identity,
          "-o",
          "BatchMode=yes",
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          `UserKnownHostsFile=${knownHosts}`,
          "-o",
          "ConnectTimeout=10",
          "-o",
          "LogLevel=ERROR",
          `${user}@${ip}`,
          command,
        ],
        { netns, timeoutMs: 120_000 },
      );
      return stdout;
    },
  };
}
