import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { localId } from "../../agent/api/ids.js";
import { GaolClient, type MachineEvent } from "../../clients/sdk/index.js";
import { openPostgres } from "../../db/client.js";
import { hostOfAgent } from "../../db/queries/hosts.js";
import { createToken } from "../../db/queries/tokens.js";
import { ensureUser } from "../../db/queries/users.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import type { Failpoint } from "../../host/failpoints.js";
import { Host } from "../../host/host.js";
import { MachineCgroup } from "../../host/jail/cgroup.js";
import { readRecord } from "../../host/machine/record.js";
import { tapNameFromId } from "../../host/network/identity.js";
import { tapBridge } from "../../host/network/tap.js";
import { ensureHost } from "../../host/setup/index.js";
import { processGroupMembers } from "../../host/uml/process.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { type CuttableProxy, freePort, startCuttableProxy } from "../helpers/cuttable-proxy.js";
import { killGroup, ProcessLogs, serveApi, spawnGaol, until } from "../helpers/gaol-process.js";
import { createTestLan, type TestLan, tapExists } from "../helpers/lan.js";
import { PostgresServer } from "../helpers/postgres-server.js";

// The fault matrix (issue 17): each fault injected at each step of a machine's life, with a real
// `gaol agent`, a real `gaol serve --no-agent`, a Postgres server of this file's own and real UML.
// The agent holds at a step (host/failpoints.ts) while the fault happens. Names unique to this file.
const NS = "gaol-t-faults";
const WORK = "/var/lib/gaol-test/faults";
const FAILPOINT_DIR = join(WORK, "failpoints");
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
const postgres = new PostgresServer(join(WORK, "postgres"), Number(process.env.GAOL_TEST_PG_PORT ?? 55432) + 1);

const FAULTS = ["agent killed", "api killed", "Postgres crashed", "agent ↔ api cut", "kernel killed"] as const;
type Fault = (typeof FAULTS)[number];
const STEPS: readonly Failpoint[] = [
  "after-root-disk",
  "after-tap",
  "after-kernel-start",
  "before-ready",
  "during-destroy",
];

/** What the machine must end as; undefined where the fault cannot happen at that step. */
function expected(fault: Fault, step: Failpoint): "READY" | "FAILED" | "DESTROYED" | undefined {
  if (fault === "kernel killed") {
    // No kernel yet, or already stopped by the destroy.
    if (step === "after-root-disk" || step === "after-tap" || step === "during-destroy") return undefined;
    return "FAILED";
  }
  return step === "during-destroy" ? "DESTROYED" : "READY";
}

let lan: TestLan;
let owner: TestAccount;
let proxy: CuttableProxy;
let apiPort: number;
let api: ResultPromise | undefined;
let agent: ResultPromise | undefined;
let agentToken: string;
let client: GaolClient;
const logs = new ProcessLogs();
const matrix = new Map<string, string>();
/** The LAN's faults: one row each, at the step where it bites. */
const lanRows: string[] = [];

async function startApi(): Promise<void> {
  api = (await serveApi({ port: apiPort, databaseUrl: postgres.url, stateDir: join(WORK, "api"), logs, tag: "api" }))
    .child;
}

function startAgent(): void {
  agent = spawnGaol(
    ["agent", "--api", `http://127.0.0.1:${proxy.port}/graphql`, "--token", agentToken],
    {
      GAOL_BRIDGE: config.bridge,
      GAOL_NETNS: NS,
      GAOL_STATE_DIR: config.stateDir,
      GAOL_MEMORY_MIB: "4096",
      GAOL_MAX_MACHINES: "4",
      GAOL_FAILPOINT_DIR: FAILPOINT_DIR,
      // The bridge cell waits for three failed probes: a second apart, not thirty.
      GAOL_HEALTH_INTERVAL_SECONDS: "1",
    },
    logs,
    "agent",
  );
}

/** Everything up and linked, whatever the cell before did. */
async function healthyStack(): Promise<void> {
  proxy.restore();
  await lan.repair();
  for (const name of await readdir(FAILPOINT_DIR)) await rm(join(FAILPOINT_DIR, name), { force: true });
  if (!existsSync(join(postgres.dir, "data", "postmaster.pid"))) await postgres.start();
  if (api?.exitCode !== null || !api) await startApi();
  if (agent?.exitCode !== null || !agent) startAgent();
}

const MACHINE = "query ($id: ID!) { machine(id: $id) { state stateReason } }";
async function machineState(id: string): Promise<{ state: string; stateReason: string | null } | undefined> {
  const response = await fetch(`http://127.0.0.1:${apiPort}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${userToken}` },
    body: JSON.stringify({ query: MACHINE, variables: { id } }),
  });
  return ((await response.json()) as { data?: { machine: { state: string; stateReason: string | null } } }).data
    ?.machine;
}

const SETTLED = ["READY", "FAILED", "DESTROYED"];
async function settled(id: string) {
  return until(`machine ${id} READY, FAILED or DESTROYED`, 180_000, async () => {
    const m = await machineState(id);
    return m && SETTLED.includes(m.state) ? m : undefined;
  });
}

/** Every event of the machine, as a subscriber that resumes from its cursor saw them, until DESTROYED. */
function subscribe(id: string): { seen: MachineEvent[]; done: Promise<void> } {
  const seen: MachineEvent[] = [];
  const done = (async () => {
    for await (const e of client.events(id)) {
      seen.push(e);
      if (e.__typename === "MachineStateChanged" && e.state === "DESTROYED") return;
    }
  })();
  return { seen, done };
}

/** What of the machine is still on the host: empty is clean. */
async function leftovers(id: string, pid: number | undefined): Promise<string[]> {
  const local = localId(id);
  const left: string[] = [];
  if (existsSync(paths.machine(config, local))) left.push("its directory");
  if (existsSync(join(paths.gaols(config), `${local}.img`))) left.push("its root disk");
  if (await tapExists(tapNameFromId(local), NS)) left.push("its tap");
  if (config.isolation && (await (await MachineCgroup.of(local)).exists())) left.push("its cgroup");
  if (pid !== undefined && (await processGroupMembers(pid)).length > 0) left.push("its kernel's processes");
  return left;
}

/** Destroyed (asked now unless it is already), seen so by its subscriber with every stored event once, in order, and nothing of it left. */
async function destroyedClean(
  id: string,
  state: string,
  events: ReturnType<typeof subscribe>,
  pid: number | undefined,
): Promise<void> {
  if (state !== "DESTROYED") {
    await until("destroy asked", 30_000, () => client.destroy(id));
    expect((await settled(id)).state).toBe("DESTROYED");
  }
  await until("the subscriber saw DESTROYED", 60_000, () =>
    Promise.race([events.done.then(() => true), new Promise<undefined>((r) => setTimeout(r, 1000))]),
  );
  const stored = await client.log(id);
  const said = stored.map((e) => (e.__typename === "MachineStateChanged" ? e.state : e.__typename)).join(" ");
  expect(
    events.seen.map((e) => e.cursor),
    `stored: ${said}`,
  ).toEqual(stored.map((e) => e.cursor));
  await expect.poll(() => leftovers(id, pid), { timeout: 30_000, interval: 500 }).toEqual([]);
}

async function held(step: Failpoint): Promise<void> {
  await until(`the agent reached ${step}`, 90_000, async () =>
    existsSync(join(FAILPOINT_DIR, step)) ? true : undefined,
  );
}

const release = (step: Failpoint) => rm(join(FAILPOINT_DIR, step), { force: true });

async function inject(fault: Fault, step: Failpoint, id: string): Promise<void> {
  switch (fault) {
    case "agent killed":
      await killGroup(agent);
      await release(step);
      startAgent();
      return;
    case "api killed":
      await killGroup(api);
      await release(step);
      // The agent goes on alone for a while: what it reports meanwhile must not be lost.
      await new Promise((r) => setTimeout(r, 1500));
      await startApi();
      return;
    case "Postgres crashed":
      await postgres.stop("immediate");
      await release(step);
      await new Promise((r) => setTimeout(r, 1500));
      await postgres.start();
      return;
    case "agent ↔ api cut":
      proxy.cut();
      await release(step);
      await new Promise((r) => setTimeout(r, 3000));
      proxy.restore();
      return;
    case "kernel killed": {
      const record = await readRecord(paths.machine(config, localId(id)));
      if (record?.pid === undefined) throw new Error("the machine has no kernel pid on record");
      process.kill(record.pid, "SIGKILL");
      await release(step);
      return;
    }
  }
}

let userToken: string;

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(FAILPOINT_DIR, { recursive: true });
  lan = await createTestLan(NS, 52, join(WORK, "lan"));
  owner = await createAccount("gaoltflt", 1605);
  await postgres.create();
  apiPort = await freePort();
  proxy = await startCuttableProxy(apiPort);
  await startApi();
  const database = await openPostgres(postgres.url);
  const agentUser = await ensureUser(database.db, { name: "faults-host", role: "AGENT" });
  agentToken = (await createToken(database.db, agentUser.id)).secret;
  const user = await ensureUser(database.db, { name: owner.name, hostUser: owner.name });
  userToken = (await createToken(database.db, user.id)).secret;
  await until("the agent's host is known", 5000, async () => hostOfAgent(database.db, agentUser.id));
  await database.close();
  client = new GaolClient({ url: `http://127.0.0.1:${apiPort}/graphql`, token: userToken, webSocket: WebSocket });
  startAgent();
}, 300_000);

afterAll(async () => {
  const rows = FAULTS.map(
    (fault) => `| ${fault} | ${STEPS.map((step) => matrix.get(`${fault} ${step}`) ?? "not run").join(" | ")} |`,
  );
  const table = [`| fault \\ step | ${STEPS.join(" | ")} |`, `|---|${STEPS.map(() => "---").join("|")}|`, ...rows];
  table.push("", "| fault of the LAN | when | outcome |", "|---|---|---|", ...lanRows);
  console.log(`fault matrix:\n${table.join("\n")}`);
  await writeFile(join("/tmp", "gaol-fault-matrix.md"), `${table.join("\n")}\n`).catch(() => undefined);
  // Read by a human when a cell failed: the console of every machine still on the host.
  for (const id of await readdir(paths.machines(config)).catch(() => [] as string[])) {
    const text = await readFile(join(paths.machine(config, id), "console.log"), "utf8").catch(() => "");
    if (text) console.log(`${id} console (tail):\n${text.split("\n").slice(-20).join("\n")}`);
  }
  await killGroup(agent);
  await killGroup(api);
  const host = new Host(config);
  for (const id of await host.localIds().catch(() => [])) await host.destroy(id).catch(() => undefined);
  await proxy?.close();
  await postgres.remove();
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await rm(WORK, { recursive: true, force: true });
});

const cells = FAULTS.flatMap((fault) => STEPS.map((step) => ({ fault, step, outcome: expected(fault, step) })));

describe("the fault matrix", () => {
  it.each(cells)(
    "$fault at $step",
    async ({ fault, step, outcome }) => {
      if (!outcome) {
        matrix.set(`${fault} ${step}`, "—");
        return;
      }
      await healthyStack();
      try {
        const name = `f${cells.findIndex((c) => c.fault === fault && c.step === step)}`;
        if (step !== "during-destroy") await writeFile(join(FAILPOINT_DIR, `${step}.arm`), "");
        const machine = await until("provisioned", 60_000, () => client.provision({ name }));
        const events = subscribe(machine.id);
        if (step === "during-destroy") {
          expect((await settled(machine.id)).state).toBe("READY");
          await writeFile(join(FAILPOINT_DIR, `${step}.arm`), "");
          await client.destroy(machine.id);
        }
        await held(step);
        const pid = (await readRecord(paths.machine(config, localId(machine.id))))?.pid;
        await inject(fault, step, machine.id);
        const end = await settled(machine.id);
        matrix.set(`${fault} ${step}`, `${end.state === outcome ? "✓" : "✗"} ${end.state}`);
        expect(end.state, end.stateReason ?? "").toBe(outcome);
        if (outcome === "FAILED") expect(end.stateReason).toMatch(/kernel/);
        await destroyedClean(machine.id, end.state, events, pid);
      } catch (error) {
        if (!matrix.has(`${fault} ${step}`)) matrix.set(`${fault} ${step}`, "✗ stuck");
        console.log(logs.tail());
        throw error;
      }
    },
    400_000,
  );
});

describe("faults of the LAN", () => {
  it("DHCP gone before the kernel asks: FAILED with what to check, nothing left", async () => {
    await healthyStack();
    try {
      await writeFile(join(FAILPOINT_DIR, "after-tap.arm"), "");
      const machine = await until("provisioned", 60_000, () => client.provision({ name: "fdhcp" }));
      const events = subscribe(machine.id);
      await held("after-tap");
      await lan.stopDhcp();
      await release("after-tap");
      const end = await settled(machine.id);
      lanRows.push(`| DHCP server gone | after-tap | ${end.state === "FAILED" ? "✓" : "✗"} ${end.state} |`);
      expect(end.state).toBe("FAILED");
      expect(end.stateReason).toMatch(/no DHCP server answered/);
      await lan.repair();
      await destroyedClean(machine.id, end.state, events, undefined);
    } catch (error) {
      console.log(logs.tail());
      throw error;
    }
  }, 400_000);

  it("bridge deleted under a READY machine: unresponsive saying so, back on it once it is made again", async () => {
    await healthyStack();
    try {
      const machine = await until("provisioned", 60_000, () => client.provision({ name: "fbridge" }));
      const events = subscribe(machine.id);
      expect((await settled(machine.id)).state).toBe("READY");
      const record = await readRecord(paths.machine(config, localId(machine.id)));
      await run("ip", ["link", "del", "dev", "br0"], { netns: NS });
      const said = (typename: string) => async () =>
        (await client.log(machine.id)).find((e) => e.__typename === typename);
      const unresponsive = await until("MachineUnresponsive", 60_000, said("MachineUnresponsive"));
      expect(unresponsive.__typename === "MachineUnresponsive" && unresponsive.probeFailure).toMatch(
        /on no bridge \(br0 was deleted under it\): GAOL_BRIDGE=br0 does not exist/,
      );
      await lan.repair();
      await until("MachineResponsive", 60_000, said("MachineResponsive"));
      const end = await machineState(machine.id);
      lanRows.push(`| bridge deleted, then made again | READY | ${end?.state === "READY" ? "✓" : "✗"} ${end?.state} |`);
      expect(end?.state).toBe("READY");
      expect(await tapBridge(tapNameFromId(localId(machine.id)), NS)).toBe("br0");
      await destroyedClean(machine.id, "READY", events, record?.pid);
    } catch (error) {
      console.log(logs.tail());
      throw error;
    }
  }, 400_000);
});
