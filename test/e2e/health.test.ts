import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { localId } from "../../agent/api/ids.js";
import { HEALTH_CHECKS } from "../../core/index.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { Host } from "../../host/host.js";
import { PROBE_ATTEMPT_MS } from "../../host/ready/probe.js";
import { ensureHost } from "../../host/setup/index.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi, wsClient } from "../helpers/api.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// Names unique to this file.
const NS = "gaol-t-health";
const WORK = "/var/lib/gaol-test/health";
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
const INTERVAL_MS = 2000;
/**
 * The longest from the sshd going quiet to the verdict: the first probe up to 1.5 intervals after
 * READY, each next one an interval (+ jitter) after the last ended, each failing one taking its
 * whole attempt; and a few seconds for the ssh login that stops sshd and for the report.
 */
const VERDICT_MS =
  INTERVAL_MS * (1.5 + (HEALTH_CHECKS.failures - 1) * (1 + HEALTH_CHECKS.jitter)) +
  HEALTH_CHECKS.failures * PROBE_ATTEMPT_MS +
  3000;

let lan: TestLan;
let api: TestApi;
let url: string;
let agent: Agent;
let owner: TestAccount;
let user: string;
let ssh: SshClient;
const ids: string[] = [];

type Event = {
  __typename: string;
  cursor: string;
  state?: string;
  ip?: string;
  reason?: string;
  failures?: number;
  since?: string;
  unresponsiveSeconds?: number;
  hostKeys?: Array<{ fingerprintSha256: string; publicKey: string }>;
};
const EVENTS = `subscription ($id: ID!, $after: String) {
  machineEvents(machineId: $id, after: $after) {
    __typename cursor
    ... on MachineStateChanged { state stateReason: reason }
    ... on SshReady { ip hostKeys { fingerprintSha256 publicKey } }
    ... on MachineUnresponsive { reason failures since }
    ... on MachineResponsive { unresponsiveSeconds }
  }
}`;
const MACHINE = `query ($id: ID!) { machine(id: $id) { state ipAddress health { status since reason } } }`;

/** Follows a machine's events (after a cursor) until one matches, collecting all of them. */
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

const machineNow = async (id: string) => (await api.gql(user, MACHINE, { id })).data?.machine;

/** A READY machine through the api: its id, where its sshd is, its keys, and its last event's cursor. */
async function readyMachine(name: string) {
  const { data, errors } = await api.gql(
    user,
    `mutation ($input: ProvisionMachineInput!) { provisionMachine(input: $input) { __typename ... on ProvisionMachinePayload { machine { id } } ... on Error { message } } }`,
    { input: { name, sshPublicKeys: [ssh.publicKey] } },
  );
  expect(errors).toBeUndefined();
  const id = data?.provisionMachine.machine.id as string;
  ids.push(id);
  const boot = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED");
  expect(boot.at(-1)?.state).toBe("READY");
  const ready = boot.find((e) => e.__typename === "SshReady") as Event;
  const keys = (ready.hostKeys ?? []).map((k) => ({ type: "", ...k }));
  return { id, ip: ready.ip as string, keys, cursor: boot.at(-1)?.cursor as string };
}

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  lan = await createTestLan(NS, 35, join(WORK, "lan"));
  owner = await createAccount("gaolthlth", 1597);
  ssh = await createSshClient(join(WORK, "client"), NS);
  api = await startTestApi();
  url = await api.app.start(0);
  const agentToken = await api.login("health-host", "AGENT", { hostMemoryMiB: 0 });
  user = await api.login(owner.name);
  agent = new Agent({
    api: url,
    token: agentToken,
    config,
    capacity: { memoryMiB: 4096, maxMachines: 4 },
    heartbeatMs: 2000,
    healthIntervalMs: INTERVAL_MS,
    log: (line) => console.log(`agent: ${line}`),
  });
  await agent.start();
});

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  // Whatever a failed test left: destroy through a fresh host core.
  const host = new Host(config);
  for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
  await api?.close();
  await lan?.destroy();
  await removeAccount("gaolthlth");
  await rm(WORK, { recursive: true, force: true });
});

printOnFailure(() => [
  ...ids.map((id) => join(paths.machine(config, localId(id)), "console.log")),
  join(WORK, "lan", "dnsmasq.log"),
]);

describe("health after READY", () => {
  it("shows a machine whose sshd stopped answering as unresponsive, and healthy again once it answers", async () => {
    const { id, ip, keys, cursor } = await readyMachine("hlth-pause");
    expect((await machineNow(id)).health).toMatchObject({ status: "HEALTHY", reason: null });
    // Inside, as root: stop the listening sshd (the oldest) for 30 s, in a session of its own that outlives this login.
    const quiet = Date.now();
    await ssh.exec(
      "root",
      ip,
      "setsid -f sh -c 'pkill -STOP -o -x sshd; sleep 30; pkill -CONT -x sshd' </dev/null >/dev/null 2>&1",
      keys,
    );
    const untilVerdict = await eventsUntil(
      id,
      (e) => e.__typename === "MachineUnresponsive",
      cursor,
      VERDICT_MS + 5000,
    );
    const verdict = untilVerdict.at(-1) as Event;
    console.log(`sshd stopped → MachineUnresponsive after ${((Date.now() - quiet) / 1000).toFixed(1)} s`);
    expect(verdict.__typename).toBe("MachineUnresponsive");
    expect(Date.now() - quiet).toBeLessThanOrEqual(VERDICT_MS);
    expect(verdict).toMatchObject({
      failures: HEALTH_CHECKS.failures,
      reason: `ssh at ${ip}:22: no answer within 3 s`,
    });
    // Still READY: nothing changed on the host; the api shows the verdict beside the state.
    expect(await machineNow(id)).toEqual({
      state: "READY",
      ipAddress: ip,
      health: { status: "UNRESPONSIVE", since: verdict.since, reason: verdict.reason },
    });

    const recovered = await eventsUntil(id, (e) => e.__typename === "MachineResponsive", verdict.cursor, 60_000);
    expect(recovered.at(-1)?.__typename).toBe("MachineResponsive");
    expect(recovered.filter((e) => e.__typename === "MachineStateChanged")).toEqual([]);
    expect((await machineNow(id)).health).toMatchObject({ status: "HEALTHY", reason: null });
    expect(await ssh.exec("root", ip, "echo back", keys)).toBe("back");
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
    await eventsUntil(id, (e) => e.state === "DESTROYED", recovered.at(-1)?.cursor, 30_000);
  });

  it("reboots an unresponsive machine: READY and healthy again, and the new boot gets no verdict", async () => {
    const { id, ip, keys, cursor } = await readyMachine("hlth-dead");
    // Its sshd is gone for good: only a new boot brings it back.
    await ssh.exec("root", ip, "setsid -f sh -c 'sleep 1; pkill -x sshd' </dev/null >/dev/null 2>&1", keys);
    const untilVerdict = await eventsUntil(
      id,
      (e) => e.__typename === "MachineUnresponsive",
      cursor,
      VERDICT_MS + 5000,
    );
    const verdict = untilVerdict.at(-1) as Event;
    expect(verdict.__typename).toBe("MachineUnresponsive");
    expect((await machineNow(id)).health.status).toBe("UNRESPONSIVE");

    const { data } = await api.gql(user, `mutation ($id: ID!) { rebootMachine(id: $id) { __typename } }`, { id });
    expect(data?.rebootMachine.__typename).toBe("RebootMachinePayload");
    const reboot = await eventsUntil(id, (e) => e.state === "READY" || e.state === "FAILED", verdict.cursor);
    const states = reboot.filter((e) => e.__typename === "MachineStateChanged").map((e) => e.state);
    expect(states).toEqual(["STOPPING", "BOOTING", "RUNNING", "READY"]);
    const again = reboot.find((e) => e.__typename === "SshReady") as Event;
    expect(await machineNow(id)).toMatchObject({ state: "READY", health: { status: "HEALTHY", reason: null } });

    // Several probes of the new boot later: still healthy, and no verdict was reported.
    const later = await eventsUntil(
      id,
      () => false,
      reboot.at(-1)?.cursor,
      3 * INTERVAL_MS * (1 + HEALTH_CHECKS.jitter),
    );
    expect(later.filter((e) => /Responsive|Unresponsive/.test(e.__typename))).toEqual([]);
    expect((await machineNow(id)).health.status).toBe("HEALTHY");
    expect(await ssh.exec("root", again.ip as string, "echo rebooted", keys)).toBe("rebooted");
    await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
    await eventsUntil(id, (e) => e.state === "DESTROYED", reboot.at(-1)?.cursor, 30_000);
  });
});
