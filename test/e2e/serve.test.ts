import { mkdir, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { localId } from "../../agent/api/ids.js";
import { hostConfigFromEnv } from "../../host/config.js";
import { HostCommandError } from "../../host/exec/error.js";
import { type Launched, launch, run, succeeds } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { MachineCgroup } from "../../host/jail/cgroup.js";
import { removeIsolatedLan } from "../../host/network/lan.js";
import { killProcessGroup } from "../../host/uml/process.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { exposedPaths } from "../helpers/exposed.js";

// The README's first command, for real: `gaol serve` in a namespace of this file's own.
const NS = "gaol-t-serve";
const STATE = "/var/lib/gaol-test/serve";
const gaol = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
const env = { PATH: process.env.PATH ?? "", GAOL_STATE_DIR: STATE, HOME: process.env.HOME ?? "/root" };

let server: Launched | undefined;
// biome-ignore lint/suspicious/noExplicitAny: the test reads GraphQL answers loosely and asserts on them.
type Loose = Record<string, any>;

async function graphql(token: string, query: string): Promise<Loose> {
  const body = JSON.stringify({ query });
  const { stdout } = await run(
    "curl",
    [
      "-s",
      "-H",
      `authorization: Bearer ${token}`,
      "-H",
      "content-type: application/json",
      "-d",
      body,
      "http://127.0.0.1:4000/graphql",
    ],
    { netns: NS },
  );
  return JSON.parse(stdout);
}

async function startServe(logName: string): Promise<void> {
  const log = await open(join("/tmp", `${NS}-${logName}.log`), "w");
  server = launch(gaol, ["serve"], { netns: NS, outputFd: log.fd, env });
  await log.close();
  for (let i = 0; i < 240; i++) {
    const text = await readFile(join("/tmp", `${NS}-${logName}.log`), "utf8");
    if (text.includes("agent for host")) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`gaol serve did not come up: ${await readFile(join("/tmp", `${NS}-${logName}.log`), "utf8")}`);
}

async function stopServe(): Promise<void> {
  if (!server) return;
  process.kill(server.pid, "SIGTERM");
  await server.exited;
  server = undefined;
}

beforeAll(async () => {
  await rm(STATE, { recursive: true, force: true });
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
  await run("ip", ["netns", "add", NS]);
  await run("ip", ["link", "set", "lo", "up"], { netns: NS });
  await createAccount("gaoltsrv", 1521);
});

// A test that failed midway must not leave its server holding the port for the next one.
afterEach(async () => {
  if (server) await killProcessGroup(server.pid).catch(() => undefined);
  server = undefined;
});

afterAll(async () => {
  const config = { ...hostConfigFromEnv(), stateDir: STATE, netns: NS };
  const host = new Host(config);
  for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
  await removeIsolatedLan({ netns: NS, bridge: "gaol0", prefix: "10.213.0", dir: join(STATE, "lan") });
  await removeAccount("gaoltsrv");
  await rm(STATE, { recursive: true, force: true });
});

printOnFailure(async () => {
  const machines = join(STATE, "machines");
  const ids = await readdir(machines).catch(() => [] as string[]);
  return [...ids.map((id) => join(machines, id, "console.log")), join(STATE, "lan", "dnsmasq.log")];
});

describe("gaol serve", () => {
  // Each serve run logs to /tmp/gaol-t-serve-*.log.
  it("serves the api with its own agent and LAN; a token from `gaol token create` gets a READY machine", async () => {
    await startServe("first");
    expect(await readFile(join("/tmp", `${NS}-first.log`), "utf8")).toContain(
      "the web page at http://127.0.0.1:4000/\n",
    );
    // A teacher's typo in the host account is refused now, not a student's FAILED machine later.
    const typo = await run(gaol, ["token", "create", "--user", "gaoltsrv", "--host-user", "gaoltsrvv"], {
      netns: NS,
      env,
    }).catch((error: HostCommandError) => error);
    expect(typo).toBeInstanceOf(HostCommandError);
    expect((typo as HostCommandError).message).toContain("there is no host account named gaoltsrvv on this host");
    // No host account at all: the token is made (a portal may map one later), with a warning that says how.
    const unmapped = await run(gaol, ["token", "create", "--user", "gaoltsrv-unmapped"], { netns: NS, env });
    expect(unmapped.stderr).toContain("gaoltsrv-unmapped has no host account, so their machines cannot start");
    const { stdout: token } = await run(gaol, ["token", "create", "--user", "gaoltsrv", "--host-user", "gaoltsrv"], {
      netns: NS,
      env,
    });
    const provisioned = await graphql(
      token,
      'mutation { provisionMachine(input: { name: "quick" }) { ... on ProvisionMachinePayload { machine { id } } } }',
    );
    const id = provisioned.data.provisionMachine.machine.id as string;
    let machine: Loose = {};
    for (let i = 0; i < 120 && machine.state !== "READY"; i++) {
      machine = (await graphql(token, `{ machine(id: "${id}") { state ipAddress stateReason } }`)).data.machine;
      if (machine.state === "FAILED") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(machine).toMatchObject({ state: "READY", ipAddress: expect.stringMatching(/^10\.213\.0\./) });
    // The database (every user's keys), the tokens, the spool, the machines and the LAN's leases: nobody else may read them.
    expect(await exposedPaths(STATE, ["cli-home"])).toEqual([]);
    expect((await stat(join(STATE, "db"))).mode & 0o777).toBe(0o700);

    // Killing the server outright (SIGKILL: no goodbye) keeps the machine READY and managed.
    await killProcessGroup((server as Launched).pid);
    server = undefined;
    await startServe("second");
    expect((await graphql(token, `{ machine(id: "${id}") { state } }`)).data.machine.state).toBe("READY");
    await graphql(token, `mutation { destroyMachine(id: "${id}") { __typename } }`);
    for (let i = 0; i < 40 && machine.state !== "DESTROYED"; i++) {
      machine = (await graphql(token, `{ machine(id: "${id}") { state } }`)).data.machine;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(machine.state).toBe("DESTROYED");
    await stopServe();
  });

  it("serves the CLI inside the namespace: up with progress, ssh with the host key pinned, --json, rm", async () => {
    await startServe("cli");
    // The web page is served at / (built by `gaol serve` when missing), its script with it.
    const { stdout: page } = await run("curl", ["-s", "http://127.0.0.1:4000/"], { netns: NS });
    expect(page).toContain("<title>gaol</title>");
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page)?.[1] as string;
    const { stdout: code } = await run(
      "curl",
      ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:4000${script}`],
      {
        netns: NS,
      },
    );
    expect(code).toBe("200");
    const home = join(STATE, "cli-home");
    await mkdir(join(home, ".ssh"), { recursive: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(home, ".ssh", "id_ed25519")]);
    const { stdout: token } = await run(gaol, ["token", "create", "--user", "gaoltsrv"], { netns: NS, env });
    const as = { netns: NS, env: { ...env, HOME: home, GAOL_TOKEN: token } };

    const upped = await run(gaol, ["up", "cli-2", "--processes", "512"], as);
    expect(upped.stdout).toBe("cli-2");
    expect(upped.stderr).toMatch(/^gaol: cli-2\ngaol: PENDING/);
    expect(upped.stderr).toMatch(/gaol:\s+ssh verified at 10\.213\.0\.\d+:22 \(SHA256:/);
    expect(upped.stderr).toContain("— gaol ssh cli-2");

    // gaol ssh: the api's host keys pinned, the user's own key, no prompt.
    expect((await run(gaol, ["ssh", "cli-2", "--", "id", "-u"], as)).stdout).toBe("0");
    // As with ssh itself, the command may follow the name without a `--`.
    expect((await run(gaol, ["ssh", "cli-2", "id", "-un"], as)).stdout).toBe("root");

    // --json on the read commands.
    const [machine] = JSON.parse((await run(gaol, ["ls", "--json"], as)).stdout);
    expect(machine).toMatchObject({ name: "cli-2", state: "READY", owner: { name: "gaoltsrv" } });
    // The limit asked for reaches the host: the machine's cgroup holds it to 512 processes.
    expect(machine.limits).toMatchObject({ processes: 512, cpuWeight: 100 });
    expect(await (await MachineCgroup.of(localId(machine.id))).processLimit()).toBe(512);
    const events = (await run(gaol, ["logs", "cli-2", "--json"], as)).stdout.split("\n").map((l) => JSON.parse(l));
    expect(events.map((e: { __typename: string }) => e.__typename)).toContain("SshReady");
    expect(JSON.parse((await run(gaol, ["images", "--json"], as)).stdout)[0].name).toBe("debian");
    const [block] = JSON.parse((await run(gaol, ["ssh-config", "cli-2", "--json"], as)).stdout);
    expect(block).toMatchObject({ host: "gaol-cli-2", hostName: machine.ipAddress, user: "root" });
    expect((await run(gaol, ["hosts"], { netns: NS, env })).stdout).toMatch(
      /^HOST\s+STATUS\s+MACHINES\s+MEMORY\s+HEARTBEAT\s+PLACING\n\S+\s+up\s+1\/.*\byes$/m,
    );

    // A host key that is not the machine's is refused, never trusted on first use.
    const config = join(home, "ssh_config");
    await writeFile(config, (await run(gaol, ["ssh-config", "cli-2"], as)).stdout);
    const { stdout: otherKey } = await run("ssh-keygen", ["-y", "-f", join(home, ".ssh", "id_ed25519")]);
    await writeFile(block.userKnownHostsFile, `${machine.ipAddress} ${otherKey}\n`);
    const refused = await run("ssh", ["-F", config, "-o", "BatchMode=yes", "gaol-cli-2", "true"], as).catch((e) => e);
    expect(refused).toBeInstanceOf(HostCommandError);
    expect(refused.stderrTail).toMatch(/Host key verification failed/);

    // --write keeps the blocks in a file of their own, included once however often it runs.
    await writeFile(join(home, ".ssh", "config"), "Host example\n  User nobody\n");
    for (let i = 0; i < 2; i++) await run(gaol, ["ssh-config", "--write"], as);
    const userConfig = await readFile(join(home, ".ssh", "config"), "utf8");
    expect(userConfig.match(/^Include gaol_config$/gm)).toHaveLength(1);
    expect(userConfig.startsWith("Include gaol_config\n")).toBe(true);
    expect((await readFile(join(home, ".ssh", "gaol_config"), "utf8")).match(/^Host gaol-cli-2$/gm)).toHaveLength(1);
    expect(
      (await run("ssh", ["-F", join(home, ".ssh", "config"), "-o", "BatchMode=yes", "gaol-cli-2", "id -u"], as)).stdout,
    ).toBe("0");

    // A key added to the running machine lets its holder in, without a reboot; before, it did not.
    const other = join(home, "other_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const withOther = [
      ...["-i", other, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"],
      ...["-o", `UserKnownHostsFile=${block.userKnownHostsFile}`, `root@${machine.ipAddress}`, "true"],
    ];
    // gaol ssh-config writes the machine's real host key back into the file the last step spoiled.
    await run(gaol, ["ssh-config", "cli-2"], as);
    expect(await succeeds("ssh", withOther, { netns: NS })).toBe(false);
    expect((await run(gaol, ["key", "add", "cli-2", `${other}.pub`], as)).stderr).toContain("lets that key in now");
    let letIn = false;
    for (let i = 0; i < 40 && !letIn; i++) {
      letIn = await succeeds("ssh", withOther, { netns: NS });
      if (!letIn) await new Promise((r) => setTimeout(r, 250));
    }
    expect(letIn).toBe(true);

    const removed = await run(gaol, ["rm", "cli-2"], as);
    expect(removed.stderr).toContain("cli-2 destroyed");
    expect(JSON.parse((await run(gaol, ["ls", "--json"], as)).stdout)).toEqual([]);
    const empty = await run(gaol, ["ls"], as);
    expect([empty.stdout, empty.stderr]).toEqual(["", "gaol: no machines yet: gaol up NAME makes one"]);
    await stopServe();
  });
});
