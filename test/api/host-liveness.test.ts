import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localId } from "../../agent/api/ids.js";
import { run } from "../../host/exec/run.js";
import { markSilentHosts } from "../../services/host-liveness.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

// Hosts whose agents go silent, on real Postgres, with agents played through the api. Names unique to this file.
const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
const REPORT = `mutation ($events: [MachineEventInput!]!) { reportMachineEvents(events: $events) { stored } }`;
const BEAT = `mutation { hostHeartbeat(memoryMiB: 65536, maxMachines: 100) { name downSince } }`;
const PROVISION = `mutation ($name: String!) { provisionMachine(input: { name: $name }) {
  __typename ... on ProvisionMachinePayload { machine { id host { name } } } ... on Error { message } } }`;
const MACHINE = `query ($id: ID!) { machine(id: $id) { state stateReason
  events(first: 100) { ... on MachineStateChanged { state reason } } } }`;

let api: TestApi;
let url: string;
let admin: string;
let user: string;
const agents: Record<string, string> = {};
let agentSeq = 0;
let heldId: string;

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0 });
  url = await api.app.start(0);
  agents["live-a"] = await api.login("live-a", "AGENT", { hostMemoryMiB: 65_536 });
  agents["live-b"] = await api.login("live-b", "AGENT", { hostMemoryMiB: 8192 });
  admin = await api.login("live-admin", "ADMIN");
  user = await api.login("live-user");
});
afterAll(() => api?.close());

const report = (host: string, id: string, ...states: string[]) =>
  api.ok(agents[host] as string, REPORT, {
    events: states.map((state) => ({
      machineId: id,
      agentSeq: ++agentSeq,
      kind: "MachineStateChanged",
      payload: { state },
    })),
  });
const machine = async (id: string) => (await api.ok(user, MACHINE, { id })).machine;
const states = async (id: string) => (await machine(id)).events.map((e: { state?: string }) => e.state).filter(Boolean);
/** What the database would see if the host's agent had last beaten `seconds` ago. */
const silence = (host: string, seconds: number) =>
  api.database.db.execute(
    sql`update hosts set last_heartbeat_at = now() - make_interval(secs => ${seconds}) where name = ${host}`,
  );

async function readyOn(host: string, name: string): Promise<string> {
  const { provisionMachine } = await api.ok(user, PROVISION, { name });
  expect(provisionMachine.machine.host.name).toBe(host);
  await report(host, provisionMachine.machine.id, "PROVISIONING", "BOOTING", "READY");
  return provisionMachine.machine.id;
}

describe("a host whose agent goes silent", () => {
  it("is down after the configured time, its machines LOST with the reason, and nothing is placed there", async () => {
    const id = await readyOn("live-a", "held");
    await silence("live-a", 10);
    expect(await markSilentHosts(api.database.db, 15)).toEqual([]);
    expect((await machine(id)).state).toBe("READY");

    await silence("live-a", 16);
    // Two replicas' passes at once: the host is taken by one, and its machines are LOST once.
    const passes = await Promise.all([markSilentHosts(api.database.db, 15), markSilentHosts(api.database.db, 15)]);
    expect(passes.flat()).toEqual([{ name: "live-a", machineIds: [localId(id)], moved: [] }]);
    const lost = await machine(id);
    expect(lost.state).toBe("LOST");
    expect(lost.stateReason).toMatch(/^its host live-a has not been heard from for 15 s \(since .*\): what runs there/);
    expect(await states(id)).toEqual(["PENDING", "PROVISIONING", "BOOTING", "READY", "LOST"]);

    const { hosts } = await api.ok(admin, `{ hosts { name downSince } }`);
    expect(hosts.find((h: { name: string }) => h.name === "live-a").downSince).not.toBeNull();
    const listed = (await run(gaolBin, ["hosts"], { env: { GAOL_API: url, GAOL_TOKEN: admin, HOME: "/nonexistent" } }))
      .stdout;
    expect(listed).toMatch(/^live-a\s+DOWN \d+ s ago\s+1\/100\s+.*no \(down\)$/m);
    expect(listed).toMatch(/^live-b\s+up\s+/m);
    // live-a has far more room, but it is down.
    expect((await api.ok(user, PROVISION, { name: "elsewhere" })).provisionMachine.machine.host.name).toBe("live-b");
  });

  it("is up again with its next heartbeat, and its machines are what its agent says they are", async () => {
    const [id] = (await markSilentHosts(api.database.db, 15)).flatMap((h) => h.machineIds);
    expect(id).toBeUndefined();
    const { machines } = await api.ok(user, `{ machines(live: true) { edges { node { id name state } } } }`);
    const held = machines.edges.find((e: { node: { name: string } }) => e.node.name === "held").node;
    expect(held.state).toBe("LOST");
    heldId = held.id;
    expect((await api.ok(agents["live-a"] as string, BEAT)).hostHeartbeat).toEqual({ name: "live-a", downSince: null });
    // The host is up, but only the agent knows what ran on while it was silent.
    expect((await machine(held.id)).state).toBe("LOST");
    await report("live-a", held.id, "READY");
    expect((await machine(held.id)).state).toBe("READY");
    expect((await states(held.id)).slice(-3)).toEqual(["READY", "LOST", "READY"]);
  });

  it("lets a LOST machine be destroyed at once, and leaves a FAILED one as it is", async () => {
    const doomed = await readyOn("live-a", "doomed");
    const failed = await readyOn("live-a", "failed");
    await report("live-a", failed, "FAILED");
    await silence("live-a", 60);
    const [lost] = await markSilentHosts(api.database.db, 15);
    expect(lost?.machineIds.sort()).toEqual([heldId, doomed].map(localId).sort());
    expect((await machine(failed)).state).toBe("FAILED");
    const destroyed = await api.ok(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, {
      id: doomed,
    });
    expect(destroyed.destroyMachine.__typename).toBe("DestroyMachinePayload");
    expect((await machine(doomed)).state).toBe("DESTROYED");
    await api.ok(agents["live-a"] as string, BEAT);
  });

  it("places a machine its agent never started on another live host, and keeps one there is no room for", async () => {
    // live-b as it logged in: less room than live-a, so new machines go to live-a.
    const beatB = (memoryMiB: number) =>
      api.ok(
        agents["live-b"] as string,
        `mutation ($m: Int!) { hostHeartbeat(memoryMiB: $m, maxMachines: 100) { name } }`,
        {
          m: memoryMiB,
        },
      );
    await api.ok(agents["live-a"] as string, BEAT);
    await beatB(8192);
    const placed = async (name: string) =>
      (await api.ok(user, PROVISION, { name })).provisionMachine.machine as { id: string; host: { name: string } };
    const where = async (id: string) =>
      (await api.ok(user, `query ($id: ID!) { machine(id: $id) { state stateReason host { name } } }`, { id })).machine;
    const waiting = await placed("waiting");
    expect(waiting.host.name).toBe("live-a");
    await silence("live-a", 60);
    const [down] = await markSilentHosts(api.database.db, 15);
    expect(down?.moved).toEqual([localId(waiting.id)]);
    expect(await where(waiting.id)).toEqual({
      state: "PENDING",
      stateReason: "its host live-a went silent before starting it: placed on another host",
      host: { name: "live-b" },
    });

    // live-b offers nothing now: a machine on a silent live-a has nowhere to go, and waits for it.
    await api.ok(agents["live-a"] as string, BEAT);
    const stuck = await placed("stuck");
    await beatB(0);
    await silence("live-a", 60);
    expect((await markSilentHosts(api.database.db, 15))[0]?.moved).toEqual([]);
    expect(await where(stuck.id)).toMatchObject({ state: "PENDING", host: { name: "live-a" } });
    for (const m of [waiting, stuck])
      await api.ok(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id: m.id });
    await api.ok(agents["live-a"] as string, BEAT);
    await beatB(8192);
  });

  it("is found by the api's own pass, without a test calling it", async () => {
    const passing = await startTestApi("postgres", api.database, { passIntervalMs: 100, hostDownSeconds: 1 });
    try {
      await api.ok(agents["live-a"] as string, BEAT);
      const id = await readyOn("live-a", "watched");
      // live-b keeps beating; live-a stops.
      const beating = setInterval(() => void api.ok(agents["live-b"] as string, BEAT), 200);
      try {
        await expect.poll(async () => (await machine(id)).state, { timeout: 10_000, interval: 100 }).toBe("LOST");
      } finally {
        clearInterval(beating);
      }
      expect((await api.ok(admin, `{ hosts { name downSince } }`)).hosts).toContainEqual({
        name: "live-b",
        downSince: null,
      });
    } finally {
      await passing.stop();
    }
  });
});
