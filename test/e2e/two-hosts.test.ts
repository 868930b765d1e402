import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa, type ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { localId } from "../../agent/api/ids.js";
import { GaolClient, type MachineEvent } from "../../clients/sdk/index.js";
import { HOST_DOWN_SECONDS } from "../../core/index.js";
import { openPostgres } from "../../db/client.js";
import { createToken } from "../../db/queries/tokens.js";
import { ensureUser } from "../../db/queries/users.js";
import { users } from "../../db/schema.js";
import { type HostConfig, hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { readRecord } from "../../host/machine/record.js";
import { ensureHost } from "../../host/setup/index.js";
import { isKernelOf, killProcessGroup, processGroupMembers } from "../../host/uml/process.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { freePort } from "../helpers/cuttable-proxy.js";
import { answers, killGroup, ProcessLogs, serveApi, spawnGaol, until } from "../helpers/gaol-process.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { PostgresServer } from "../helpers/postgres-server.js";

// Production's shape on one machine (issue 17): two hosts, each a network namespace on the test
// LAN with its own bridge, GAOL_ROOT, state dir and real `gaol agent`; two `gaol serve --no-agent`
// replicas on one real Postgres, behind Debian's HAProxy; everyone (agents too) talks through it.
// Names unique to this file.
const NS = "gaol-t-two";
const WORK = "/var/lib/gaol-test/two-hosts";
const base = hostConfigFromEnv();
const postgres = new PostgresServer(join(WORK, "postgres"), Number(process.env.GAOL_TEST_PG_PORT ?? 55432) + 3);
const logs = new ProcessLogs();

interface TestHost {
  name: string;
  config: HostConfig;
  address: string;
  agent?: ResultPromise;
  token?: string;
}

interface Replica {
  port: number;
  process?: ResultPromise;
}

let lan: TestLan;
let owner: TestAccount;
let hosts: TestHost[];
let replicas: Replica[];
let balancer: ResultPromise | undefined;
let balancerPort: number;
let client: GaolClient;
let userToken: string;
let adminToken: string;

const viaBalancer = () => `http://127.0.0.1:${balancerPort}`;

/** A host on the LAN: namespace `<NS>-<x>`, bridge br0 (at a fixed address, for the agent's ssh probe) uplinked to the LAN's. */
async function createHostNetns(netns: string, uplink: string, address: string): Promise<void> {
  await run("ip", ["netns", "del", netns]).catch(() => undefined);
  await run("ip", ["netns", "add", netns]);
  await run("ip", ["link", "add", uplink, "type", "veth", "peer", "name", "uplink", "netns", netns], { netns: NS });
  await run("ip", ["link", "set", uplink, "master", "br0", "up"], { netns: NS });
  const inside = [
    "link set lo up",
    "link add br0 type bridge forward_delay 0",
    "link set uplink master br0",
    "link set uplink up",
    `addr add ${address}/24 dev br0`,
    "link set br0 up",
  ].join("\n");
  await run("ip", ["-batch", "-"], { netns, input: inside });
}

/** A GAOL_ROOT of the host's own on the same btrfs: kernel, jailer and images reflinked, not copied. */
async function createHostRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  for (const entry of await readdir(base.root)) {
    if (entry === "gaols" || entry.startsWith("test-")) continue;
    await run("cp", ["-a", "--reflink=always", join(base.root, entry), root]);
  }
}

function startAgent(host: TestHost): void {
  host.agent = spawnGaol(
    ["agent", "--api", `${viaBalancer()}/graphql`, "--token", host.token as string],
    {
      GAOL_ROOT: host.config.root,
      GAOL_BRIDGE: host.config.bridge,
      GAOL_NETNS: host.config.netns as string,
      GAOL_STATE_DIR: host.config.stateDir,
      GAOL_MEMORY_MIB: "4096",
      GAOL_MAX_MACHINES: "6",
    },
    logs,
    host.name,
  );
}

async function startReplica(replica: Replica, index: number): Promise<void> {
  const stateDir = join(WORK, `api-${index}`);
  const tag = `api-${index}`;
  replica.process = (await serveApi({ port: replica.port, databaseUrl: postgres.url, stateDir, logs, tag })).child;
}

/** HAProxy in the foreground: a replica that stops answering /readyz is out within a second. */
async function startBalancer(): Promise<void> {
  const servers = replicas.map(
    (r, i) => `  server api-${i} 127.0.0.1:${r.port} check inter 300 fall 2 rise 1 observe layer4 on-error mark-down`,
  );
  const cfg = [
    "global",
    "  maxconn 2000",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 120s",
    "  timeout server 120s",
    // A graphql-ws subscription is a tunnel once upgraded: it lives as long as the client keeps it.
    "  timeout tunnel 1h",
    "  retries 3",
    "  option redispatch",
    "frontend gaol",
    `  bind 127.0.0.1:${balancerPort}`,
    // Each request's id, made here and passed on: the replica logs it and sends it back.
    "  unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid",
    "  unique-id-header X-Request-Id",
    "  default_backend replicas",
    "backend replicas",
    "  balance roundrobin",
    "  option httpchk GET /readyz",
    ...servers,
    "",
  ].join("\n");
  const file = join(WORK, "haproxy.cfg");
  await writeFile(file, cfg);
  balancer = execa("haproxy", ["-f", file, "-db"], { reject: false, detached: true, all: true });
  balancer.all?.on("data", (chunk: Buffer) => logs.add(`haproxy: ${chunk.toString().trimEnd()}`));
  await answers(`${viaBalancer()}/readyz`);
}

async function graphql<T>(query: string, variables: Record<string, unknown> = {}, token = adminToken): Promise<T> {
  const response = await fetch(`${viaBalancer()}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(`graphql: ${JSON.stringify(body.errors)}`);
  return body.data;
}

interface Placed {
  state: string;
  stateReason: string | null;
  host: { name: string } | null;
}
const machine = async (id: string) =>
  (
    await graphql<{ machine: Placed }>("query ($id: ID!) { machine(id: $id) { state stateReason host { name } } }", {
      id,
    })
  ).machine;

/** Every event of the machine as a subscriber through the balancer saw them, until it says `last`. */
function subscribe(id: string, last: string): { seen: MachineEvent[]; done: Promise<void> } {
  const seen: MachineEvent[] = [];
  const done = (async () => {
    for await (const e of client.events(id)) {
      seen.push(e);
      if (e.__typename === "MachineStateChanged" && e.state === last) return;
    }
  })();
  return { seen, done };
}

/** A host's crash: its agent and every kernel it ran, at once. */
async function crash(host: TestHost): Promise<void> {
  await killGroup(host.agent);
  const h = new Host(host.config);
  for (const id of await h.localIds()) {
    const record = await readRecord(paths.machine(host.config, id));
    // By its group, once its pid is proved to be still this kernel (pids are reused).
    if (record?.pid !== undefined && (await isKernelOf(record.pid, record.umid))) await killProcessGroup(record.pid);
  }
}

beforeAll(async () => {
  await ensureHost(base, () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  lan = await createTestLan(NS, 53, join(WORK, "lan"));
  hosts = ["a", "b"].map((x, i) => ({
    name: `two-${x}`,
    address: `${lan.prefix}.${3 + i}`,
    config: {
      ...base,
      root: join(base.root, `test-two-${x}`),
      kernel: join(base.root, `test-two-${x}`, "kernel", "linux"),
      bridge: "br0",
      netns: `${NS}-${x}`,
      stateDir: join(WORK, `host-${x}`),
    },
  }));
  for (const [i, host] of hosts.entries()) {
    await createHostNetns(host.config.netns as string, `up-${i}`, host.address);
    await createHostRoot(host.config.root);
  }
  owner = await createAccount("gaolttwo", 1606);
  await postgres.create();
  replicas = [{ port: await freePort() }, { port: await freePort() }];
  balancerPort = await freePort();
  for (const [i, r] of replicas.entries()) await startReplica(r, i);
  await startBalancer();
  const database = await openPostgres(postgres.url);
  for (const host of hosts) {
    const agentUser = await ensureUser(database.db, { name: host.name, role: "AGENT" });
    host.token = (await createToken(database.db, agentUser.id)).secret;
  }
  const user = await ensureUser(database.db, { name: owner.name, hostUser: owner.name });
  // Room for the load run: more machines than the default quota.
  await database.db.update(users).set({ maxMachines: 20, maxMemoryMiB: 8192 }).where(eq(users.id, user.id));
  userToken = (await createToken(database.db, user.id)).secret;
  const admin = await ensureUser(database.db, { name: "two-admin", role: "ADMIN" });
  adminToken = (await createToken(database.db, admin.id)).secret;
  await database.close();
  client = new GaolClient({ url: `${viaBalancer()}/graphql`, token: userToken, webSocket: WebSocket });
  for (const host of hosts) startAgent(host);
  // Both hosts offer their room once their first heartbeat is in.
  await until("both agents' heartbeats", 90_000, async () => {
    const { hosts: seen } = await graphql<{ hosts: { name: string; memoryMiB: number }[] }>(
      "{ hosts { name memoryMiB } }",
    );
    return seen.filter((h) => h.memoryMiB === 4096).length === 2 ? true : undefined;
  }).catch((error: Error) => {
    console.log(logs.tail(120));
    throw error;
  });
}, 600_000);

afterAll(async () => {
  for (const host of hosts ?? []) {
    await killGroup(host.agent);
    const h = new Host(host.config);
    for (const id of await h.localIds().catch(() => [])) await h.destroy(id).catch(() => undefined);
    await run("ip", ["netns", "del", host.config.netns as string]).catch(() => undefined);
    await rm(host.config.root, { recursive: true, force: true });
  }
  for (const r of replicas ?? []) await killGroup(r.process);
  await killGroup(balancer);
  await postgres.remove();
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await rm(WORK, { recursive: true, force: true });
});

describe("two hosts, two api replicas, one balancer", () => {
  it("spreads machines, keeps a stream across replica deaths, and loses only the crashed host's machines", async () => {
    try {
      // Placement: the most free memory first, so two machines land one on each host.
      const first = await Promise.all(["t1", "t2"].map((name) => client.provision({ name })));
      const ready = await Promise.all(first.map((m) => client.waitForReady(m.id, { timeoutMs: 240_000 })));
      const placed = await Promise.all(ready.map(async (r) => (await machine(r.machine.id)).host?.name));
      expect(placed.sort()).toEqual(["two-a", "two-b"]);

      // The balancer's request id comes back, and the replica that served it logged the mutation under it.
      const traced = await fetch(`${viaBalancer()}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${userToken}` },
        body: JSON.stringify({
          query: 'mutation Traced { provisionMachine(input: { name: "bad name" }) { __typename } }',
        }),
      });
      const requestId = traced.headers.get("x-request-id") as string;
      expect(requestId).toMatch(/^[0-9A-F]{8}:[0-9A-F]{4}_[0-9A-F]{8}:[0-9A-F]{4}_/);
      await until("the replica's log line", 5000, async () =>
        /gaol: mutation Traced done/.test(logs.tail(400)) && logs.tail(400).includes(requestId) ? true : undefined,
      );

      // A subscriber through the balancer while each replica in turn is killed and started again.
      const watched = await client.provision({ name: "t3" });
      // Its subscriber stays until the end: across both replicas' deaths and, maybe, its host's crash.
      const stream = subscribe(watched.id, "DESTROYED");
      for (const [i, r] of replicas.entries()) {
        await killGroup(r.process);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await startReplica(r, i);
      }
      await client.waitForReady(watched.id, { timeoutMs: 240_000 });

      // A host crashed while a machine boots on it: its machines LOST, the other host goes on.
      const booting = await client.provision({ name: "t4" });
      const doomedName = await until("t4 placed and booting", 60_000, async () => {
        const m = await machine(booting.id);
        return m.state === "BOOTING" ? m.host?.name : undefined;
      });
      const doomed = hosts.find((h) => h.name === doomedName) as TestHost;
      const survivor = hosts.find((h) => h !== doomed) as TestHost;
      await crash(doomed);
      const crashed = Date.now();
      const onDoomed = [...ready.map((r) => r.machine.id), watched.id, booting.id];
      const lost = await until(
        `the crashed host's machines LOST (down after ${HOST_DOWN_SECONDS} s)`,
        60_000,
        async () => {
          const states = await Promise.all(onDoomed.map(async (id) => ({ id, ...(await machine(id)) })));
          const mine = states.filter((m) => m.host?.name === doomed.name);
          return mine.every((m) => m.state === "LOST") ? mine : undefined;
        },
      );
      console.log(`host crashed → ${lost.length} machines LOST after ${((Date.now() - crashed) / 1000).toFixed(1)} s`);
      expect(lost.map((m) => m.id)).toContain(booting.id);
      for (const m of lost)
        expect(m.stateReason).toMatch(new RegExp(`its host ${doomed.name} has not been heard from`));
      const others = await Promise.all(onDoomed.map(machine));
      expect(others.filter((m) => m.host?.name === survivor.name).every((m) => m.state === "READY")).toBe(true);
      const after = await client.provision({ name: "t5" });
      const afterReady = await client.waitForReady(after.id, { timeoutMs: 240_000 });
      expect((await machine(afterReady.machine.id)).host?.name).toBe(survivor.name);

      // The crashed host comes back: what its machines' records say is gone is FAILED, not LOST forever.
      startAgent(doomed);
      await until("the crashed host's machines settled", 120_000, async () => {
        const states = await Promise.all(lost.map((m) => machine(m.id)));
        return states.every((m) => m.state !== "LOST") ? states : undefined;
      });
      for (const id of [...onDoomed, after.id]) {
        await until("destroy asked", 30_000, () => client.destroy(id));
        await client.waitForState(id, "DESTROYED", { timeoutMs: 120_000 });
      }
      await until("the subscriber saw DESTROYED", 60_000, () =>
        Promise.race([stream.done.then(() => true), new Promise<undefined>((r) => setTimeout(r, 1000))]),
      );
      expect(stream.seen.map((e) => e.cursor)).toEqual((await client.log(watched.id)).map((e) => e.cursor));
      for (const host of hosts) {
        expect(await new Host(host.config).localIds()).toEqual([]);
        for (const id of onDoomed) {
          const pid = (await readRecord(paths.machine(host.config, localId(id))))?.pid;
          if (pid !== undefined) expect(await processGroupMembers(pid)).toEqual([]);
        }
      }
    } catch (error) {
      console.log(logs.tail(120));
      throw error;
    }
  }, 900_000);

  it("takes a burst through the balancer while a replica is killed: provisions per second, event delivery p99", async () => {
    const count = 8;
    const lags: number[] = [];
    const started = Date.now();
    try {
      const provisioned = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          until("provisioned", 60_000, () => client.provision({ name: `load${i}` })),
        ),
      );
      const accepted = (Date.now() - started) / 1000;
      const streams = provisioned.map((m) => {
        const seen: MachineEvent[] = [];
        const done = (async () => {
          for await (const e of client.events(m.id)) {
            seen.push(e);
            lags.push(Date.now() - Date.parse(e.at));
            if (e.__typename === "MachineStateChanged" && ["READY", "FAILED"].includes(e.state)) return;
          }
        })();
        return { id: m.id, seen, done };
      });
      // One replica dies while the boots' events flow; the balancer sends its streams to the other.
      await killGroup(replicas[0]?.process);
      await Promise.all(streams.map((s) => client.waitForReady(s.id, { timeoutMs: 240_000 })));
      const allReady = (Date.now() - started) / 1000;
      await Promise.all(streams.map((s) => s.done));
      await startReplica(replicas[0] as Replica, 0);
      for (const s of streams) {
        const stored = (await client.log(s.id)).map((e) => e.cursor);
        expect(s.seen.map((e) => e.cursor)).toEqual(stored.slice(0, s.seen.length));
      }
      lags.sort((a, b) => a - b);
      const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))];
      const placed = await Promise.all(streams.map(async (s) => (await machine(s.id)).host?.name));
      console.log(
        `load: ${count} provisions accepted in ${accepted.toFixed(2)} s (${(count / accepted).toFixed(1)}/s), all READY in ${allReady.toFixed(1)} s; ` +
          `${lags.length} events delivered, lag p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, with replica 0 killed; ` +
          `placed ${placed.filter((h) => h === "two-a").length} on two-a, ${placed.filter((h) => h === "two-b").length} on two-b`,
      );
      expect(new Set(placed).size).toBe(2);
      // Gauges come from the database: any replica, through the balancer, counts every host's machines.
      const scrape = async (base: string) =>
        (await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text())
          .split("\n")
          .filter((l) =>
            /^gaol_(machines|host_heartbeat_age_seconds|boot_seconds_(count|sum)|event_report_lag_seconds_(count|sum))/.test(
              l,
            ),
          );
      const shown = await scrape(viaBalancer());
      // Histograms are each replica's own (Prometheus scrapes every replica): the one never killed.
      const own = await scrape(`http://127.0.0.1:${replicas[1]?.port}`);
      console.log(`curl /metrics, excerpt:\n${[...new Set([...shown, ...own])].join("\n")}`);
      for (const name of ["two-a", "two-b"]) {
        const line = shown.find(
          (l) => l.startsWith("gaol_machines{") && l.includes('state="READY"') && l.includes(`host="${name}"`),
        );
        expect(line?.split(" ").at(-1)).toBe(String(placed.filter((h) => h === name).length));
      }
      for (const s of streams) {
        await client.destroy(s.id);
        await client.waitForState(s.id, "DESTROYED", { timeoutMs: 120_000 });
      }
    } catch (error) {
      console.log(logs.tail(120));
      throw error;
    }
  }, 600_000);
});
