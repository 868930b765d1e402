import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { localId, machineGlobalId } from "../../agent/api/ids.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { readRecord } from "../../host/machine/record.js";
import { ensureHost } from "../../host/setup/index.js";
import { processGroupMembers } from "../../host/uml/process.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi, wsClient } from "../helpers/api.js";
import { createTestLan, type TestLan, tapExists } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// Names unique to this file.
const NS = "gaol-t-loop";
const WORK = "/var/lib/gaol-test/loop";
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };

let lan: TestLan;
let api: TestApi;
let url: string;
let agentToken: string;
let agent: Agent;
let owner: TestAccount;
let user: string;
let ssh: SshClient;

type Event = {
  __typename: string;
  cursor: string;
  state?: string;
  text?: string;
  ip?: string;
  reason?: string;
  hostKeys?: Array<{ fingerprintSha256: string; publicKey: string }>;
};
const EVENTS = `subscription ($id: ID!, $after: String) {
  machineEvents(machineId: $id, after: $after) {
    __typename cursor
    ... on MachineStateChanged { state reason }
    ... on ConsoleOutput { text }
    ... on DhcpLeaseAcquired { ip }
    ... on SshReady { ip hostKeys { fingerprintSha256 publicKey } }
  }
}`;
const MACHINE = `query ($id: ID!) { machine(id: $id) { name state ipAddress readyAt sshHostKeys { fingerprintSha256 publicKey } } }`;

function startAgent(): Agent {
  const a = new Agent({
    api: url,
    token: agentToken,
    config,
    capacity: { memoryMiB: 8192, maxMachines: 20 },
    heartbeatMs: 2000,
    log: (line) => console.log(`agent: ${line}`),
  });
  return a;
}

/** Follows a machine's events until one matches, collecting all of them. */
async function eventsUntil(id: string, done: (e: Event) => boolean, after?: string, timeoutMs = 90_000) {
  const client = wsClient(url, user);
  const events: Event[] = [];
  const iterator = client.iterate<{ machineEvents: Event }>({ query: EVENTS, variables: { id, after } });
  const timer = setTimeout(() => void iterator.return?.(), timeoutMs);
  try {
    for await (const result of iterator) {
      const event = result.data?.machineEvents as Event;
      events.push(event);
      if (done(event)) break;
    }
  } finally {
    clearTimeout(timer);
    await client.dispose();
  }
  return events;
}

async function provision(name: string): Promise<string> {
  const { data, errors } = await api.gql(
    user,
    `mutation ($input: ProvisionMachineInput!) { provisionMachine(input: $input) { __typename ... on ProvisionMachinePayload { machine { id } } ... on Error { message } } }`,
    { input: { name, sshPublicKeys: [ssh.publicKey] } },
  );
  expect(errors).toBeUndefined();
  expect(data?.provisionMachine.__typename).toBe("ProvisionMachinePayload");
  return data?.provisionMachine.machine.id;
}

async function expectNothingLeft(id: string, record: Awaited<ReturnType<typeof readRecord>>) {
  expect(record).toBeDefined();
  if (!record) return;
  expect(await processGroupMembers(record.pid as number)).toEqual([]);
  expect(await tapExists(record.tap, NS)).toBe(false);
  for (const file of record.disk.files) expect(existsSync(file)).toBe(false);
  expect(existsSync(paths.machine(config, id))).toBe(false);
}

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  lan = await createTestLan(NS, 32, join(WORK, "lan"));
  owner = await createAccount("gaoltloop", 1511);
  ssh = await createSshClient(join(WORK, "client"), NS);
  api = await startTestApi();
  url = await api.app.start(0);
  agentToken = await api.login("loop-host", "AGENT", { hostMemoryMiB: 0 });
  user = await api.login(owner.name);
  agent = startAgent();
  await agent.start();
});

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  // Whatever a failed test left: destroy through a fresh host core.
  const host = new Host(config);
  for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
  await api?.close();
  await lan?.destroy();
  await removeAccount("gaoltloop");
  await rm(WORK, { recursive: true, force: true });
});

describe("the whole loop through the api", () => {
  let id: string;

  it("provisions, streams the boot live, and is READY with the keys the api shows", async () => {
    const started = performance.now();
    id = await provision("loop-a");
    const events = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED");
    console.log(`provision → READY through the api: ${((performance.now() - started) / 1000).toFixed(2)} s`);
    const states = events.filter((e) => e.__typename === "MachineStateChanged").map((e) => e.state);
    if (states.includes("FAILED")) console.log(events.map((e) => e.text ?? e.state).join("\n"));
    expect(states).toEqual(["PENDING", "PROVISIONING", "BOOTING", "RUNNING", "READY"]);
    const kinds = new Set(events.map((e) => e.__typename));
    for (const kind of ["ConsoleOutput", "DhcpLeaseAcquired", "HomeMounted", "SshReady"]) expect(kinds).toContain(kind);
    const cursors = events.map((e) => Number(e.cursor));
    expect(cursors).toEqual(cursors.map((_, i) => i + 1));
    const ready = events.find((e) => e.__typename === "SshReady") as Event;
    const { data } = await api.gql(user, MACHINE, { id });
    expect(data?.machine).toMatchObject({ state: "READY", ipAddress: ready.ip });
    expect(data?.machine.readyAt).toBeTruthy();
    expect(data?.machine.sshHostKeys).toEqual(ready.hostKeys);
    const keys = data?.machine.sshHostKeys.map((k: { publicKey: string }) => ({
      type: "",
      fingerprintSha256: "",
      publicKey: k.publicKey,
    }));
    expect(await ssh.exec("root", ready.ip as string, "id -u", keys)).toBe("0");
    expect(await ssh.exec(owner.name, ready.ip as string, "id -un", keys)).toBe(owner.name);
  });

  it("survives an agent restart: still READY, console still streams, destroy still works", async () => {
    await agent.stop();
    const before = await api.gql(user, `query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }`, {
      id,
    });
    const lastCursor = before.data?.machine.events.at(-1).cursor as string;
    agent = startAgent();
    await agent.start();
    const { data } = await api.gql(user, MACHINE, { id });
    expect(data?.machine.state).toBe("READY");
    const keys = data?.machine.sshHostKeys;
    const ip = data?.machine.ipAddress;
    const marker = `still streaming ${Date.now()}`;
    const streamed = eventsUntil(id, (e) => e.text === marker, lastCursor, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    await ssh.exec("root", ip, `echo '${marker}' > /dev/console`, keys);
    const events = await streamed;
    expect(events.at(-1)?.text).toBe(marker);
    expect(events.filter((e) => e.state === "FAILED")).toEqual([]);

    const record = await readRecord(paths.machine(config, localId(id)));
    const destroyed = eventsUntil(id, (e) => e.state === "DESTROYED", lastCursor, 30_000);
    const result = await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
    expect(result.data?.destroyMachine.__typename).toBe("DestroyMachinePayload");
    await destroyed;
    await expectNothingLeft(localId(id), record);
  });

  it("turns a kernel killed with SIGKILL into FAILED with a reason, and frees its resources", async () => {
    const victim = await provision("loop-b");
    await eventsUntil(victim, (e) => e.state === "READY" || e.state === "FAILED");
    const record = await readRecord(paths.machine(config, localId(victim)));
    process.kill(record?.pid as number, "SIGKILL");
    const events = await eventsUntil(victim, (e) => e.state === "FAILED", undefined, 30_000);
    expect(events.at(-1)?.reason).toMatch(/kernel exited/);
    await agent.settle();
    await expectNothingLeft(localId(victim), record);
    const { data } = await api.gql(user, MACHINE, { id: victim });
    expect(data?.machine.state).toBe("FAILED");
  });
});

describe("the loop under load and failure", () => {
  it("reboots a machine on rebootMachine: same disk, a new boot, READY again", async () => {
    const id = await provision("reboot-me");
    const boot = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED");
    const ready = boot.find((e) => e.__typename === "SshReady") as Event;
    const keys = ready.hostKeys?.map((k) => ({ type: "", ...k })) ?? [];
    await ssh.exec("root", ready.ip as string, "echo survives > /root/mark && sync", keys);
    const rebooted = eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED", boot.at(-1)?.cursor);
    const { data } = await api.gql(user, `mutation ($id: ID!) { rebootMachine(id: $id) { __typename } }`, { id });
    expect(data?.rebootMachine.__typename).toBe("RebootMachinePayload");
    const events = await rebooted;
    const states = events.filter((e) => e.__typename === "MachineStateChanged").map((e) => e.state);
    expect(states).toEqual(["STOPPING", "BOOTING", "RUNNING", "READY"]);
    const again = events.find((e) => e.__typename === "SshReady") as Event;
    expect(await ssh.exec("root", again.ip as string, "cat /root/mark", keys)).toBe("survives");
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
  });

  it("completes a boot cleanly when the agent is stopped in the middle of it", async () => {
    const id = await provision("mid-boot");
    await eventsUntil(id, (e) => e.state === "BOOTING");
    await agent.stop();
    agent = startAgent();
    await agent.start();
    const events = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED");
    expect(events.at(-1)?.state).toBe("READY");
    const record = await readRecord(paths.machine(config, localId(id)));
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
    await eventsUntil(id, (e) => e.state === "DESTROYED", undefined, 30_000);
    await agent.settle();
    await expectNothingLeft(localId(id), record);
  });

  it("boots ten machines at once to READY, and destroying them all leaves nothing", async () => {
    await api.database.db.execute("update users set max_machines = 50, max_memory_mib = 100000" as never);
    const started = performance.now();
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => provision(`ten-${i}`)));
    const finals = await Promise.all(
      ids.map((id) => eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED")),
    );
    console.log(`ten at once → all READY: ${((performance.now() - started) / 1000).toFixed(2)} s`);
    expect(finals.map((events) => events.at(-1)?.state)).toEqual(Array(10).fill("READY"));
    const records = await Promise.all(ids.map((id) => readRecord(paths.machine(config, localId(id)))));
    const ips = new Set(finals.map((events) => events.find((e) => e.__typename === "SshReady")?.ip));
    expect(ips.size).toBe(10);
    const destroyed = ids.map((id) => eventsUntil(id, (e) => e.state === "DESTROYED", undefined, 60_000));
    for (const id of ids) await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
    await Promise.all(destroyed);
    for (const [i, id] of ids.entries()) await expectNothingLeft(localId(id), records[i]);
  });

  it("never makes a machine READY at an address it merely printed", async () => {
    const id = await provision("liar");
    const boot = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED");
    const ready = boot.find((e) => e.__typename === "SshReady") as Event;
    const keys = ready.hostKeys?.map((k) => ({ type: "", ...k })) ?? [];
    const lastCursor = boot.at(-1)?.cursor;
    // The peer host at .2 runs no sshd with this machine's key; the guest claims it anyway.
    await ssh.exec(
      "root",
      ready.ip as string,
      `echo 'gaol: stage=lease t=9 ip=${lan.peerIp} mac=02:00:00:00:00:01 lease=60' > /dev/console`,
      keys,
    );
    const after = await eventsUntil(id, () => false, lastCursor, 4000);
    expect(after.some((e) => e.__typename === "DhcpLeaseAcquired" && e.ip === lan.peerIp)).toBe(true);
    expect(after.filter((e) => e.__typename === "SshReady")).toEqual([]);
    const { data } = await api.gql(user, MACHINE, { id });
    expect(data?.machine.ipAddress).toBe(ready.ip);
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
  });

  it("loses no event when the api restarts while a machine boots", async () => {
    const id = await provision("restart-api");
    const port = Number(new URL(url).port);
    const firstPart = await eventsUntil(id, (e) => e.state === "BOOTING");
    await api.stop();
    await new Promise((r) => setTimeout(r, 1500));
    const restarted = await startTestApi("postgres", api.database);
    url = await restarted.app.start(port);
    api.app = restarted.app;
    api.stop = restarted.stop;
    const rest = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED", firstPart.at(-1)?.cursor);
    const all = [...firstPart, ...rest].map((e) => Number(e.cursor));
    expect(all).toEqual(all.map((_, i) => i + 1));
    expect(rest.at(-1)?.state).toBe("READY");
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
  });

  it("picks up a machine placed here whose change notification it never had (a resync each heartbeat)", async () => {
    // A row placed on this host with no notification: only the agent's periodic resync can find it.
    const [row] = (await api.database.db.execute(
      sql`insert into machines (name, owner_id, host_id, image_id, memory_mib, ssh_public_keys)
          select 'unnoticed', owner_id, host_id, image_id, memory_mib, ssh_public_keys from machines
          where host_id is not null order by created_at desc limit 1 returning id`,
    )) as unknown as Array<{ id: string }>;
    expect(row?.id).toBeDefined();
    const id = machineGlobalId(row?.id as string);
    const boot = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED");
    expect(boot.at(-1)?.state).toBe("READY");
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
  });

  it("places machines on two agents' hosts, and each agent sees only its own", async () => {
    const secondToken = await api.login("loop-host-2", "AGENT", { hostMemoryMiB: 0 });
    const secondConfig = { ...config, stateDir: join(WORK, "state-2") };
    const second = new Agent({
      api: url,
      token: secondToken,
      config: secondConfig,
      capacity: { memoryMiB: 8192, maxMachines: 20 },
      heartbeatMs: 2000,
    });
    await second.start();
    try {
      const ids = await Promise.all(Array.from({ length: 4 }, (_, i) => provision(`two-${i}`)));
      const finals = await Promise.all(
        ids.map((id) => eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED")),
      );
      expect(finals.map((events) => events.at(-1)?.state)).toEqual(Array(4).fill("READY"));
      const { data } = await api.gql(
        await api.login("loop-admin", "ADMIN"),
        "{ machines(first: 100) { edges { node { id host { name } state } } } }",
      );
      const hosts = new Set(
        data?.machines.edges
          .filter((e: { node: { id: string } }) => ids.includes(e.node.id))
          .map((e: { node: { host: { name: string } } }) => e.node.host.name),
      );
      expect(hosts).toEqual(new Set(["loop-host", "loop-host-2"]));
      const seenBy = async (token: string) =>
        (await api.gql(token, "{ machines(first: 100) { edges { node { id } } } }")).data?.machines.edges.map(
          (e: { node: { id: string } }) => e.node.id,
        ) as string[];
      const [one, two] = [await seenBy(agentToken), await seenBy(secondToken)];
      expect(one.filter((id) => two.includes(id))).toEqual([]);
      expect(ids.every((id) => one.includes(id) || two.includes(id))).toBe(true);
      const destroyed = ids.map((id) => eventsUntil(id, (e) => e.state === "DESTROYED", undefined, 60_000));
      for (const id of ids)
        await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
      await Promise.all(destroyed);
    } finally {
      await second.stop();
      const host = new Host(secondConfig);
      for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    }
  });
});

describe("the gaol CLI against the api", () => {
  const gaol = fileURLToPath(new URL("../../bin/gaol", import.meta.url));

  async function cli(args: string[], token = user, home = join(WORK, "cli-home")) {
    return execa(gaol, args, {
      env: { GAOL_API: url, GAOL_TOKEN: token, HOME: home, XDG_CONFIG_HOME: join(home, ".config") },
      reject: false,
      timeout: 120_000,
    });
  }

  it("goes up, lists, shows logs, writes an ssh config that works, and removes", async () => {
    const home = join(WORK, "cli-home");
    await mkdir(join(home, ".ssh"), { recursive: true });
    await writeFile(join(home, ".ssh", "id_ed25519.pub"), `${ssh.publicKey}\n`);
    const upped = await cli(["up", "cli-1"]);
    expect(upped.exitCode, upped.stderr).toBe(0);
    expect(upped.stderr).toMatch(/lease .*\n(.|\n)*READY/);
    expect(upped.stderr).toContain("gaol ssh cli-1");
    const listed = await cli(["ls"]);
    expect(listed.stdout).toMatch(/^NAME\s+STATE\s+IP/);
    expect(listed.stdout).toMatch(/cli-1\s+READY\s+10\./);
    const json = JSON.parse((await cli(["ls", "--json"])).stdout);
    expect(json.find((m: { name: string }) => m.name === "cli-1").state).toBe("READY");
    // One ordered log on stdout, even through a pipe: states and console lines as they happened.
    const log = (await cli(["logs", "cli-1"])).stdout;
    const order = ["gaol: PENDING", "gaol: stage=sshd", "gaol: READY"].map((line) => log.indexOf(line));
    expect(order[0]).toBeGreaterThan(-1);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const config = (await cli(["ssh-config", "cli-1"])).stdout;
    expect(config).toContain("Host gaol-cli-1");
    await writeFile(join(home, "ssh_config"), config);
    const { stdout } = await run(
      "ssh",
      [
        "-F",
        join(home, "ssh_config"),
        "-i",
        join(WORK, "client", "ssh_host_ed25519_key"),
        "-o",
        "BatchMode=yes",
        "gaol-cli-1",
        "id -u",
      ],
      { netns: NS },
    );
    expect(stdout).toBe("0");
    const removed = await cli(["rm", "cli-1"]);
    expect(removed.exitCode).toBe(0);
    expect(removed.stderr).toContain("cli-1 destroyed");
  });

  it("says what is wrong: a bad token, an unknown machine, an unreachable api", async () => {
    const bad = await cli(["ls"], "gaol_not_a_token");
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/Not authorized/);
    const unknown = await cli(["rm", "no-such-machine"]);
    expect(unknown.exitCode).not.toBe(0);
    expect(unknown.stderr).toMatch(/no machine named "no-such-machine"/);
    const unreachable = await execa(gaol, ["ls"], {
      env: { GAOL_API: "http://127.0.0.1:9/graphql", GAOL_TOKEN: user },
      reject: false,
    });
    expect(unreachable.stderr).toMatch(/cannot reach the gaol api/);
  });
});
