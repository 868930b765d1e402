// `gaol try [--owner USER] [--name N]`: one machine on a private LAN, no api; Ctrl-C destroys it.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { MachineEvent } from "../core/index.js";
import { type HostConfig, hostConfigFromEnv } from "../host/config.js";
import { run } from "../host/exec/run.js";
import { Host } from "../host/host.js";
import { ensureIsolatedLan, removeIsolatedLan } from "../host/network/lan.js";
import { lookupAccount } from "../host/owner/account.js";
import { ensureHost } from "../host/setup/index.js";
import { starting } from "./startup.js";

const TRY_NETNS = "gaol-try";
const DEMO_ACCOUNT = "gaol-demo";

function describe(event: MachineEvent): string | undefined {
  switch (event.kind) {
    case "MachineStateChanged":
      return `state ${event.payload.state}${event.payload.reason ? `: ${event.payload.reason}` : ""}`;
    case "BootStageReached": {
      const uptime = event.payload.uptimeSeconds;
      return `  ${event.payload.stage.padEnd(8)} ${uptime != null ? `${uptime.toFixed(2)} s` : ""}`;
    }
    case "LeaseWarning":
      return `  warning  ${event.payload.message}`;
    case "SshReady":
      return `  ready    ssh at ${event.payload.ip}:${event.payload.port} presents ${event.payload.hostKeys[0]?.fingerprintSha256}`;
    default:
      return undefined;
  }
}

/** The account that will own the demo machine: --owner, the sudo caller, or a demo account. */
async function demoOwner(requested?: string): Promise<string> {
  const name = requested ?? process.env.SUDO_USER;
  if (name && name !== "root") return name;
  await lookupAccount(DEMO_ACCOUNT).catch(() => run("useradd", ["--create-home", "--user-group", DEMO_ACCOUNT]));
  return DEMO_ACCOUNT;
}

/**
 * `gaol try`: host setup, a private LAN in a namespace, one machine for the
 * owner, its boot stages live, then the ssh command; Ctrl-C destroys it.
 */
async function tryCommand(args: { owner?: string; name?: string }, log: (line: string) => void) {
  const base = hostConfigFromEnv();
  await ensureHost(base, log);
  const config: HostConfig = { ...base, netns: TRY_NETNS, bridge: "br0" };
  const lan = { netns: TRY_NETNS, bridge: "br0", prefix: "10.213.0", dir: join(base.stateDir, "try-lan") };
  await ensureIsolatedLan(lan);
  const owner = await lookupAccount(await demoOwner(args.owner));
  const keyFiles = [join(owner.home, ".ssh", "id_ed25519.pub"), join(owner.home, ".ssh", "id_rsa.pub")];
  if (owner.name === DEMO_ACCOUNT && !keyFiles.some((f) => existsSync(f))) {
    // The demo account is ours: give it a key so the printed ssh command just works.
    const asOwner = { asUser: { uid: owner.uid, gid: owner.gid } };
    await run("mkdir", ["-p", "-m", "700", join(owner.home, ".ssh")], asOwner);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(owner.home, ".ssh", "id_ed25519")], asOwner);
  }
  const keyFile = keyFiles.find((f) => existsSync(f));
  const sshPublicKeys = keyFile ? [(await readFile(keyFile, "utf8")).trim()] : [];
  const host = new Host(config);
  await host.check();
  host.warmUp();
  const name = args.name ?? "try";
  await host.destroy(name);
  const started = performance.now();
  const machine = await host.provision({ name, owner: owner.name, sshPublicKeys }, (event) => {
    const line = describe(event);
    if (line) log(line);
  });
  const ready = await machine.ready;
  log(`READY in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  const knownHosts = join(base.stateDir, "try-known_hosts");
  await writeFile(knownHosts, ready.hostKeys.map((k) => `${ready.ip} ${k.publicKey}\n`).join(""));
  console.log(
    `\nssh in (as ${owner.name}${keyFile ? `, with ${keyFile}` : "; add a key to ~/.ssh first"}):\n` +
      `  sudo ip netns exec ${TRY_NETNS} sudo -u ${owner.name} ssh -o UserKnownHostsFile=${knownHosts} root@${ready.ip}\n` +
      "\nCtrl-C destroys the machine.",
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const stopping = performance.now();
  await host.destroy(name);
  log(`destroyed in ${Math.round(performance.now() - stopping)} ms`);
  await removeIsolatedLan(lan);
}

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { owner: { type: "string" }, name: { type: "string" } },
});
const log = (line: string) => console.error(`gaol: ${line}`);
await starting(log, () => tryCommand(values, log));
