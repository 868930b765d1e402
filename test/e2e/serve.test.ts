import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostConfigFromEnv } from "../../agents/config.js";
import { type Launched, launch, run } from "../../agents/exec/run.js";
import { Host } from "../../agents/host.js";
import { removeIsolatedLan } from "../../agents/network/lan.js";
import { killProcessGroup } from "../../agents/uml/process.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";

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

afterAll(async () => {
  if (server) await killProcessGroup(server.pid).catch(() => undefined);
  const config = { ...hostConfigFromEnv(), stateDir: STATE, netns: NS };
  const host = new Host(config);
  for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
  await removeIsolatedLan({ netns: NS, bridge: "gaol0", prefix: "10.213.0", dir: join(STATE, "lan") });
  await removeAccount("gaoltsrv");
  await rm(STATE, { recursive: true, force: true });
});

describe("gaol serve", () => {
  // Each serve run logs to /tmp/gaol-t-serve-*.log.
  it("serves the api with its own agent and LAN; a token from `gaol token create` gets a READY machine", async () => {
    await startServe("first");
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
});
