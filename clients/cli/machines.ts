import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { machineEvents } from "../sdk/events.js";
import { type Endpoint, request } from "../sdk/request.js";

interface MachineRow {
  id: string;
  name: string;
  state: string;
  ipAddress: string | null;
  memoryMiB: number;
  createdAt: string;
  image: { name: string };
  owner: { name: string; hostUser: string | null };
  sshHostKeys: Array<{ type: string; fingerprintSha256: string; publicKey: string }>;
}

const FIELDS =
  "id name state ipAddress memoryMiB createdAt image { name } owner { name hostUser } sshHostKeys { type fingerprintSha256 publicKey }";

export async function listMachines(endpoint: Endpoint): Promise<MachineRow[]> {
  type Page = { machines: { edges: Array<{ node: MachineRow }> } };
  const data = await request<Page>(endpoint, `{ machines(first: 500) { edges { node { ${FIELDS} } } } }`);
  return data.machines.edges.map((e) => e.node);
}

/** The viewer's live machine with that name. */
export async function machineNamed(endpoint: Endpoint, name: string): Promise<MachineRow> {
  const machine = (await listMachines(endpoint)).find((m) => m.name === name && m.state !== "DESTROYED");
  if (!machine) throw new Error(`you have no machine named ${JSON.stringify(name)} (gaol ls lists them)`);
  return machine;
}

function publicKeys(): string[] {
  for (const file of ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]) {
    const path = join(homedir(), ".ssh", file);
    if (existsSync(path)) return [readFileSync(path, "utf8").trim()];
  }
  return [];
}

function describe(event: {
  __typename: string;
  state?: string;
  reason?: string | null;
  stage?: string;
  uptimeSeconds?: number | null;
  ip?: string;
  path?: string;
}) {
  switch (event.__typename) {
    case "MachineStateChanged":
      return `${event.state}${event.reason ? ` (${event.reason})` : ""}`;
    case "BootStageReached":
      return `  ${event.stage}${event.uptimeSeconds != null ? ` at ${event.uptimeSeconds.toFixed(2)} s` : ""}`;
    case "DhcpLeaseAcquired":
      return `  lease ${event.ip}`;
    case "HomeMounted":
      return `  home ${event.path}`;
    case "SshReady":
      return `  ssh verified at ${event.ip}`;
    default:
      return undefined;
  }
}

/** `gaol up`: provision, print each stage as it happens, exit when READY (or non-zero on FAILED). */
export async function up(
  endpoint: Endpoint,
  args: { name?: string; image?: string; memory?: string },
): Promise<number> {
  type Result = { provisionMachine: { __typename: string; message?: string; machine?: { id: string; name: string } } };
  const input = {
    name: args.name,
    image: args.image,
    memoryMiB: args.memory ? Number(args.memory) : undefined,
    sshPublicKeys: publicKeys(),
  };
  const { provisionMachine: result } = await request<Result>(
    endpoint,
    `mutation ($input: ProvisionMachineInput!) { provisionMachine(input: $input) { __typename ... on Error { message } ... on ProvisionMachinePayload { machine { id name } } } }`,
    { input },
  );
  if (!result.machine) throw new Error(`${result.__typename}: ${result.message}`);
  const started = Date.now();
  console.error(`gaol: ${result.machine.name}`);
  for await (const event of machineEvents(endpoint, result.machine.id)) {
    const line = describe(event);
    if (line) console.error(`gaol: ${line}`);
    if (event.state === "READY") {
      console.error(`gaol: ready in ${((Date.now() - started) / 1000).toFixed(1)} s — gaol ssh ${result.machine.name}`);
      console.log(result.machine.name);
      return 0;
    }
    if (event.state === "FAILED") {
      for (const l of event.lastConsoleLines ?? []) console.error(`  | ${l}`);
      return 1;
    }
  }
  return 1;
}

export async function ls(endpoint: Endpoint, json: boolean): Promise<void> {
  const machines = (await listMachines(endpoint)).filter((m) => m.state !== "DESTROYED");
  if (json) {
    console.log(JSON.stringify(machines, null, 2));
    return;
  }
  const rows = [
    ["NAME", "STATE", "IP", "MEMORY", "IMAGE"],
    ...machines.map((m) => [m.name, m.state, m.ipAddress ?? "-", `${m.memoryMiB} MiB`, m.image.name]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  for (const row of rows)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    );
}

/** `gaol logs NAME [-f]`: the whole boot log; with -f, follows it. */
export async function logs(endpoint: Endpoint, name: string, follow: boolean): Promise<void> {
  const machine = await machineNamed(endpoint, name);
  if (!follow) {
    type Page = { machine: { events: Array<{ __typename: string; text?: string }> } };
    const data = await request<Page>(
      endpoint,
      `query ($id: ID!) { machine(id: $id) { events(first: 5000) { __typename ... on ConsoleOutput { text } } } }`,
      { id: machine.id },
    );
    for (const e of data.machine.events) if (e.text !== undefined) console.log(e.text);
    return;
  }
  for await (const event of machineEvents(endpoint, machine.id)) {
    if (event.text !== undefined) console.log(event.text);
    else if (event.__typename === "MachineStateChanged") console.error(`gaol: ${describe(event)}`);
  }
}

export async function rm(endpoint: Endpoint, name: string): Promise<void> {
  const machine = await machineNamed(endpoint, name);
  await request(endpoint, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id: machine.id });
  for await (const event of machineEvents(endpoint, machine.id)) {
    if (event.state === "DESTROYED") break;
  }
  console.error(`gaol: ${name} destroyed`);
}

/** A known_hosts file pinning the machine's keys: no trust on first use, and a mismatch is refused. */
async function knownHosts(machine: MachineRow): Promise<string> {
  const dir = join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "gaol", "known_hosts");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, machine.name);
  await writeFile(file, machine.sshHostKeys.map((k) => `${machine.ipAddress} ${k.publicKey}\n`).join(""));
  return file;
}

export async function ssh(endpoint: Endpoint, name: string, command: string[]): Promise<number> {
  const machine = await machineNamed(endpoint, name);
  if (machine.state !== "READY" || !machine.ipAddress) throw new Error(`${name} is ${machine.state}, not READY`);
  const file = await knownHosts(machine);
  const result = await execa(
    "ssh",
    ["-o", `UserKnownHostsFile=${file}`, "-o", "StrictHostKeyChecking=yes", `root@${machine.ipAddress}`, ...command],
    { stdio: "inherit", reject: false },
  );
  return result.exitCode ?? 1;
}

/** `gaol ssh-config [NAME]`: OpenSSH Host blocks for VS Code Remote-SSH, scp, rsync. */
export async function sshConfig(endpoint: Endpoint, name?: string): Promise<void> {
  const machines = (await listMachines(endpoint)).filter((m) => m.state === "READY" && (!name || m.name === name));
  if (name && machines.length === 0) throw new Error(`you have no READY machine named ${JSON.stringify(name)}`);
  for (const m of machines) {
    console.log(
      `Host gaol-${m.name}\n  HostName ${m.ipAddress}\n  User root\n  UserKnownHostsFile ${await knownHosts(m)}\n  StrictHostKeyChecking yes\n`,
    );
  }
}
