import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { GaolClient, type Machine } from "../sdk/client.js";
import type { Endpoint } from "../sdk/request.js";
import { terminalPageUrl } from "../sdk/terminal.js";
import { labPath } from "./courses.js";
import { parseDuration, wholeNumber } from "./duration.js";
import { fromNow, printJson, printTable, span, stateLabel } from "./output.js";
import { describeEvent, Progress } from "./progress.js";

/** The viewer's live machine with that name. */
async function machineNamed(client: GaolClient, name: string): Promise<Machine> {
  const machine = (await client.machines()).find((m) => m.name === name && m.state !== "DESTROYED");
  if (!machine) throw new Error(`you have no machine named ${JSON.stringify(name)} (gaol ls lists them)`);
  return machine;
}

/** The user's ssh key pair: the public half goes to new machines, the private half to ssh. */
function sshKey(): { publicKey: string; identityFile: string } | undefined {
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const identityFile = join(homedir(), ".ssh", name);
    if (existsSync(`${identityFile}.pub`))
      return { publicKey: readFileSync(`${identityFile}.pub`, "utf8").trim(), identityFile };
  }
  return undefined;
}

/**
 * The user's key, or, asked on a terminal, a new one made by ssh-keygen (it asks for a passphrase);
 * without one, a plain warning: the machine boots, and nobody can log in until a key is added.
 */
async function keyOrOffer(): Promise<ReturnType<typeof sshKey>> {
  const found = sshKey();
  if (found) return found;
  if (process.stdin.isTTY && process.stderr.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question("gaol: you have no ssh key (~/.ssh/id_ed25519.pub); make one now? [Y/n] ");
    rl.close();
    if (!/^n/i.test(answer.trim())) {
      await mkdir(join(homedir(), ".ssh"), { recursive: true, mode: 0o700 });
      await (await import("execa")).execa(
        "ssh-keygen",
        ["-t", "ed25519", "-f", join(homedir(), ".ssh", "id_ed25519")],
        { stdio: "inherit" },
      );
      return sshKey();
    }
  }
  console.error(
    "gaol: warning: no ssh key in ~/.ssh, so gaol ssh will not get in: make one (ssh-keygen -t ed25519), then gaol key add NAME",
  );
  return undefined;
}

/** `gaol key add NAME [FILE]`: a public key (yours from ~/.ssh by default) may log in, running machine or not. */
export async function addKey(endpoint: Endpoint, name: string | undefined, file: string | undefined): Promise<void> {
  if (!name) throw new Error("usage: gaol key add NAME [PUBLIC_KEY_FILE]");
  const publicKey = file ? (await readFile(file, "utf8")).trim() : sshKey()?.publicKey;
  if (!publicKey) throw new Error("no ssh key in ~/.ssh: make one with ssh-keygen -t ed25519, or name a .pub file");
  const client = new GaolClient(endpoint);
  const machine = await machineNamed(client, name);
  await client.addSshKeys(machine.id, [publicKey]);
  console.error(`gaol: ${name} lets that key in now: gaol ssh ${name}`);
}

/** `gaol up`: provision, show each stage as it happens, exit when READY (or non-zero on FAILED). */
export async function up(
  endpoint: Endpoint,
  args: {
    name?: string;
    image?: string;
    memory?: string;
    processes?: string;
    cpuPercent?: string;
    lab?: string;
    json?: boolean;
  },
): Promise<number> {
  const client = new GaolClient(endpoint);
  if (args.lab) {
    // A lab decides the image, memory and limits: flags that would contradict it are refused, not ignored.
    const { course, lab } = labPath(args.lab, "usage: gaol up --lab COURSE/LAB [NAME]");
    if (args.image || args.memory || args.processes || args.cpuPercent)
      throw new Error("a lab's machine takes the lab's image and memory: drop --image, --memory and the limits");
    const key = await keyOrOffer();
    const machine = await client.startLab(course, lab, { name: args.name, sshPublicKeys: key ? [key.publicKey] : [] });
    return untilReady(client, machine, new Progress(machine.name), { json: args.json });
  }
  const key = await keyOrOffer();
  const machine = await client.provision({
    name: args.name,
    image: args.image,
    memoryMiB: wholeNumber("--memory", args.memory),
    limits: {
      processes: wholeNumber("--processes", args.processes),
      cpuPercent: wholeNumber("--cpu-percent", args.cpuPercent),
    },
    sshPublicKeys: key ? [key.publicKey] : [],
  });
  return untilReady(client, machine, new Progress(machine.name), { json: args.json });
}

/** `gaol reboot NAME`: a new boot on the same disk (what an unresponsive machine needs), shown until READY again. */
export async function reboot(endpoint: Endpoint, name: string, json = false): Promise<number> {
  const client = new GaolClient(endpoint);
  return rebootShown(client, await machineNamed(client, name), "reboot", json);
}

/** `gaol reset NAME`: back to its image's disk (a lab's starter), the home kept, shown until READY again. */
export async function reset(endpoint: Endpoint, name: string, json = false): Promise<number> {
  const client = new GaolClient(endpoint);
  return rebootShown(client, await machineNamed(client, name), "reset", json);
}

/** Asks for a reboot or a reset and shows the new boot (only what follows the ask) until READY. */
export async function rebootShown(
  client: GaolClient,
  machine: Machine,
  how: "reboot" | "reset",
  json: boolean,
): Promise<number> {
  const after = await lastCursor(client, machine.id);
  if (how === "reset") await client.reset(machine.id);
  else await client.reboot(machine.id);
  return untilReady(client, machine, new Progress(`${machine.name} ${how}`), { after, json });
}

/** The cursor of the machine's newest stored event: what follows it is what happens from now on. */
async function lastCursor(client: GaolClient, id: string): Promise<string | undefined> {
  let last: string | undefined;
  for (;;) {
    const page = await client.log(id, last);
    if (page.length === 0) return last;
    last = page.at(-1)?.cursor;
  }
}

/** "; it ends in 2 h (gaol extend adds time)" for a lab machine, "" for one that lives until destroyed. */
function leaseNote(machine: Machine): string {
  if (!machine.expiresAt) return "";
  const extend = (machine.extensionLeftSeconds ?? 0) > 0 ? " (gaol extend adds time)" : "";
  return `; the lab ends it ${fromNow(machine.expiresAt)}${extend}`;
}

/** `gaol extend NAME [--by 15m]`: a lab machine lives longer, within what its lab allows. */
export async function extend(endpoint: Endpoint, name: string, by: string | undefined): Promise<void> {
  const client = new GaolClient(endpoint);
  const machine = await machineNamed(client, name);
  if (!machine.expiresAt) throw new Error(`${name} is not a lab machine: it lives until you destroy it`);
  const left = machine.extensionLeftSeconds ?? 0;
  if (left === 0) throw new Error(`${name}'s lab allows no more time: save your work to your home directory`);
  const seconds = by === undefined ? Math.min(left, 900) : parseDuration(by);
  const extended = await client.extend(machine.id, seconds);
  const more = extended.extensionLeftSeconds ? `; ${span(extended.extensionLeftSeconds)} more can be added` : "";
  console.error(`gaol: ${name} now ends ${fromNow(extended.expiresAt)}${more}`);
}

/** Shows the machine's events after `after` until it is READY (exit 0) or FAILED or DESTROYED (exit 1). */
async function untilReady(
  client: GaolClient,
  machine: Machine,
  progress: Progress,
  options: { after?: string; json?: boolean },
): Promise<number> {
  try {
    for await (const event of client.events(machine.id, options.after)) {
      const line = describeEvent(event);
      if (line) progress.step(line);
      if (event.__typename !== "MachineStateChanged") continue;
      if (event.state === "READY") {
        progress.done(`ready in ${progress.elapsed} — gaol ssh ${machine.name}${leaseNote(machine)}`);
        if (options.json) printJson(await client.machine(machine.id));
        else console.log(machine.name);
        return 0;
      }
      if (event.state === "FAILED" || event.state === "DESTROYED") {
        progress.fail(`${machine.name} ${event.state}: ${event.reason ?? "no reason given"}`);
        for (const l of event.lastConsoleLines) console.error(`  | ${l}`);
        return 1;
      }
    }
    return 1;
  } finally {
    progress.stop();
  }
}

export async function ls(endpoint: Endpoint, json: boolean): Promise<void> {
  const machines = (await new GaolClient(endpoint).machines()).filter((m) => m.state !== "DESTROYED");
  if (json) return printJson(machines);
  if (machines.length === 0) {
    console.error("gaol: no machines yet: gaol up NAME makes one");
    return;
  }
  // The lab columns only when a lab machine is listed: most users never see them.
  const labs = machines.some((m) => m.expiresAt);
  const lab = (m: Machine) =>
    labs ? [m.lab ? `${m.lab.course.name}/${m.lab.name}` : "-", m.expiresAt ? fromNow(m.expiresAt) : "-"] : [];
  printTable([
    ["NAME", "STATE", "IP", "MEMORY", "IMAGE", "OWNER", ...(labs ? ["LAB", "ENDS"] : [])],
    ...machines.map((m) => [
      m.name,
      stateLabel(m),
      m.ipAddress ?? "-",
      `${m.memoryMiB} MiB`,
      m.imageVersion ? `${m.image.name}@${m.imageVersion}` : m.image.name,
      m.owner.name,
      ...lab(m),
    ]),
  ]);
}

/** What `gaol logs` prints besides the console: states and health, in order on stdout so `| tail` and `| grep` see one log. */
const NOTICES = new Set([
  "MachineStateChanged",
  "MachineUnresponsive",
  "MachineResponsive",
  "MachineExpiring",
  "MachineLeaseExtended",
]);

/** `gaol logs NAME [-f] [--json]`: the whole boot log; with -f, follows it. */
export async function logs(endpoint: Endpoint, name: string, follow: boolean, json: boolean): Promise<void> {
  const client = new GaolClient(endpoint);
  const machine = await machineNamed(client, name);
  const events = follow ? client.events(machine.id) : (await client.log(machine.id)).values();
  for await (const event of events) {
    if (json) console.log(JSON.stringify(event));
    else if (event.__typename === "ConsoleOutput") console.log(event.text);
    else if (NOTICES.has(event.__typename)) console.log(`gaol: ${describeEvent(event)}`);
  }
}

export async function rm(endpoint: Endpoint, name: string): Promise<void> {
  const client = new GaolClient(endpoint);
  const machine = await machineNamed(client, name);
  await client.destroy(machine.id);
  await client.waitForState(machine.id, "DESTROYED");
  console.error(`gaol: ${name} destroyed`);
}

/** A known_hosts file pinning the machine's keys: no trust on first use, and a mismatch is refused. */
async function knownHosts(machine: Machine): Promise<string> {
  const dir = join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "gaol", "known_hosts");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, machine.name);
  await writeFile(file, machine.sshHostKeys.map((k) => `${machine.ipAddress} ${k.publicKey}\n`).join(""));
  return file;
}

export async function ssh(
  endpoint: Endpoint,
  name: string,
  command: string[],
  options: { x11?: boolean } = {},
): Promise<number> {
  const machine = await machineNamed(new GaolClient(endpoint), name);
  if (machine.state !== "READY" || !machine.ipAddress) throw new Error(`${name} is ${machine.state}, not READY`);
  const file = await knownHosts(machine);
  const key = sshKey();
  const result = await (await import("execa")).execa(
    process.env.GAOL_SSH || "ssh",
    [
      "-o",
      `UserKnownHostsFile=${file}`,
      "-o",
      "StrictHostKeyChecking=yes",
      ...(key ? ["-i", key.identityFile] : []),
      ...(options.x11 ? ["-X"] : []),
      `root@${machine.ipAddress}`,
      ...command,
    ],
    { stdio: "inherit", reject: false },
  );
  return result.exitCode ?? 1;
}

/** `gaol term NAME`: the page's terminal for it (the page asks for the token; a URL never carries one). */
export async function terminalUrl(endpoint: Endpoint, name: string, owner: boolean): Promise<string> {
  const machine = await machineNamed(new GaolClient(endpoint), name);
  if (machine.state !== "READY") throw new Error(`${name} is ${machine.state}: its terminal opens once it is READY`);
  return `${terminalPageUrl(endpoint, machine.id)}${owner ? "&login=OWNER" : ""}`;
}

/** `gaol ssh-config [NAME]`: OpenSSH Host blocks for VS Code Remote-SSH, JetBrains Gateway, scp, rsync. */
export async function sshConfig(
  endpoint: Endpoint,
  name: string | undefined,
  json: boolean,
  write = false,
): Promise<void> {
  const machines = (await new GaolClient(endpoint).machines()).filter(
    (m) => m.state === "READY" && (!name || m.name === name),
  );
  if (name && machines.length === 0) throw new Error(`you have no READY machine named ${JSON.stringify(name)}`);
  const key = sshKey();
  const hosts = [];
  for (const m of machines) {
    hosts.push({
      host: `gaol-${m.name}`,
      hostName: m.ipAddress,
      user: "root",
      userKnownHostsFile: await knownHosts(m),
      identityFile: key?.identityFile,
    });
  }
  if (json) return printJson(hosts);
  const blocks = hosts.map((h) => {
    const identity = h.identityFile ? `  IdentityFile ${h.identityFile}\n` : "";
    return `Host ${h.host}\n  HostName ${h.hostName}\n  User root\n  UserKnownHostsFile ${h.userKnownHostsFile}\n  StrictHostKeyChecking yes\n${identity}`;
  });
  if (!write) {
    for (const block of blocks) console.log(block);
    return;
  }
  await writeIncludedConfig(blocks.join("\n"));
  console.error(`gaol: ${blocks.length} machine(s) in ~/.ssh/${INCLUDED}, included from ~/.ssh/config: ssh gaol-NAME`);
}

const INCLUDED = "gaol_config";

/**
 * Writes gaol's Host blocks to a file of their own, replaced whole each time, and includes it
 * once from ~/.ssh/config (as `coder config-ssh` does): running it twice never duplicates a block.
 */
async function writeIncludedConfig(text: string): Promise<void> {
  const dir = join(homedir(), ".ssh");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, INCLUDED), `# Written by gaol ssh-config --write; changes here are lost.\n${text}`, {
    mode: 0o600,
  });
  const config = join(dir, "config");
  const current = await readFile(config, "utf8").catch(() => "");
  if (new RegExp(`^\\s*Include\\s+${INCLUDED}\\s*$`, "mi").test(current)) return;
  // At the top: an Include below a Host line would apply to that host only.
  await writeFile(config, `Include ${INCLUDED}\n\n${current}`, { mode: 0o600 });
}
