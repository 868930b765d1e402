import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { localId } from "../../agent/api/ids.js";
import { GaolClient } from "../../clients/sdk/client.js";
import { HOST_DOWN_SECONDS } from "../../core/index.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { Host } from "../../host/host.js";
import { readRecord } from "../../host/machine/record.js";
import { ensureHost } from "../../host/setup/index.js";
import { isKernelOf, processGroupMembers } from "../../host/uml/process.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi } from "../helpers/api.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// A real `gaol agent` process killed with SIGKILL under a READY machine, and started again. Names unique to this file.
const NS = "gaol-t-lost";
const WORK = "/var/lib/gaol-test/host-lost";
const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };

let lan: TestLan;
let api: TestApi;
let url: string;
let agentToken: string;
let owner: TestAccount;
let ssh: SshClient;
let userToken: string;
let agent: ResultPromise | undefined;

/** `gaol agent` as its own process, the way a host runs it. */
function startAgent(): ResultPromise {
  const child = execa(gaolBin, ["agent", "--api", url, "--token", agentToken], {
    env: {
      GAOL_BRIDGE: config.bridge,
      GAOL_NETNS: NS,
      GAOL_STATE_DIR: config.stateDir,
      GAOL_MEMORY_MIB: "4096",
      GAOL_MAX_MACHINES: "4",
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
    },
    reject: false,
    // Its own process group: tsx runs the agent in a child process, and SIGKILL to the group reaches both.
    detached: true,
    stdout: ["pipe", "inherit"],
    stderr: ["pipe", "inherit"],
  });
  return child;
}

/** kill -9 of the agent, as a crash would: its group (the tsx wrapper and the agent's node). */
function killAgent(): void {
  if (agent?.pid) {
    try {
      process.kill(-agent.pid, "SIGKILL");
    } catch {}
  }
}

const MACHINE = `query ($id: ID!) { machine(id: $id) { state stateReason host { name }
  events(first: 1000) { ... on MachineStateChanged { state reason } } } }`;
const machine = async (id: string) => (await api.ok(userToken, MACHINE, { id })).machine;

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  lan = await createTestLan(NS, 50, join(WORK, "lan"));
  owner = await createAccount("gaoltlst", 1603);
  ssh = await createSshClient(join(WORK, "client"), NS);
  // The api's passes run as in production: every second, hosts down after HOST_DOWN_SECONDS.
  api = await startTestApi("postgres", undefined, { passIntervalMs: 1000 });
  url = await api.app.start(0);
  agentToken = await api.login("lost-host", "AGENT", { hostMemoryMiB: 0 });
  userToken = await api.login(owner.name);
  agent = startAgent();
  await agentHeard();
}, 120_000);

/** The agent's first heartbeat offers its room: machines can be placed from then on. */
async function agentHeard(): Promise<void> {
  const admin = await api.login("lost-admin", "ADMIN");
  const room = async () =>
    (await api.ok(admin, "{ hosts { name memoryMiB } }")).hosts.find((h: { name: string }) => h.name === "lost-host")
      ?.memoryMiB;
  for (const deadline = Date.now() + 60_000; (await room()) !== 4096; ) {
    if (Date.now() > deadline) throw new Error("gaol agent sent no heartbeat within 60 s (its output is above)");
    await new Promise((r) => setTimeout(r, 250));
  }
}

afterAll(async () => {
  killAgent();
  await agent?.catch(() => undefined);
  const host = new Host(config);
  for (const id of await host.localIds().catch(() => [])) await host.destroy(id).catch(() => undefined);
  await api?.close();
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await rm(WORK, { recursive: true, force: true });
});

describe("a host whose agent is killed", () => {
  it("has its machines LOST within the configured time, and READY again on the same kernel when it is back", async () => {
    const client = new GaolClient({ url, token: userToken, webSocket: WebSocket });
    const provisioned = await client.provision({ name: "survivor", sshPublicKeys: [ssh.publicKey] });
    const ready = await client.waitForReady(provisioned.id, { timeoutMs: 180_000 });
    const record = await readRecord(paths.machine(config, localId(ready.machine.id)));
    const pid = record?.pid as number;
    expect(await isKernelOf(pid, record?.umid as string)).toBe(true);

    killAgent();
    const killed = Date.now();
    await agent;
    await expect
      .poll(async () => (await machine(ready.machine.id)).state, { timeout: 60_000, interval: 250 })
      .toBe("LOST");
    const lostAfter = (Date.now() - killed) / 1000;
    console.log(`agent killed → machine LOST after ${lostAfter.toFixed(1)} s (down after ${HOST_DOWN_SECONDS} s)`);
    const lost = await machine(ready.machine.id);
    expect(lost.stateReason).toMatch(
      new RegExp(`^its host lost-host has not been heard from for ${HOST_DOWN_SECONDS} s`),
    );
    const admin = await api.login("lost-admin", "ADMIN");
    const { hosts } = await api.ok(admin, "{ hosts { name downSince } }");
    expect(hosts.find((h: { name: string }) => h.name === "lost-host").downSince).not.toBeNull();
    // Nobody watched it, and it ran on: its kernel and its sshd are still there.
    expect(await isKernelOf(pid, record?.umid as string)).toBe(true);
    expect(await ssh.exec("root", ready.ip, "echo still-here", ready.hostKeys)).toBe("still-here");

    agent = startAgent();
    const back = Date.now();
    await expect
      .poll(async () => (await machine(ready.machine.id)).state, { timeout: 120_000, interval: 250 })
      .toBe("READY");
    console.log(`agent started again → READY after ${((Date.now() - back) / 1000).toFixed(1)} s (re-adopted)`);
    const states = (await machine(ready.machine.id)).events.flatMap((e: { state?: string }) =>
      e.state ? [e.state] : [],
    );
    expect(states.slice(-3)).toEqual(["READY", "LOST", "READY"]);
    expect(states).not.toContain("FAILED");
    expect((await readRecord(paths.machine(config, localId(ready.machine.id))))?.pid).toBe(pid);
    expect((await api.ok(admin, "{ hosts { name downSince } }")).hosts).toContainEqual({
      name: "lost-host",
      downSince: null,
    });

    await client.destroy(ready.machine.id);
    await client.waitForState(ready.machine.id, "DESTROYED", { timeoutMs: 60_000 });
    await expect.poll(() => processGroupMembers(pid), { timeout: 30_000 }).toEqual([]);
  }, 420_000);
});
