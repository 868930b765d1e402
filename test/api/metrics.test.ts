import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../helpers/api.js";

let api: TestApi;
let origin: string;
let admin: string;
let user: string;
let agent: string;

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0 });
  origin = new URL(await api.app.start(0)).origin;
  agent = await api.login("metrics-host", "AGENT");
  admin = await api.login("metrics-admin", "ADMIN");
  user = await api.login("metrics-user");
});
afterAll(() => api?.close());

const get = (path: string, token?: string) =>
  fetch(`${origin}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("operations endpoints", () => {
  it("serves Prometheus metrics to an admin: machines by state and host, heartbeats, operations", async () => {
    await api.ok(user, `mutation { provisionMachine(input: { name: "m1" }) { __typename } }`);
    await api.ok(user, `mutation { provisionMachine(input: { name: "m2" }) { __typename } }`);
    const response = await get("/metrics", admin);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain('gaol_machines{state="PENDING",host="metrics-host"} 2');
    expect(text).toMatch(/^gaol_host_heartbeat_age_seconds\{host="metrics-host"\} \d+(\.\d+)?$/m);
    // yoga.fetch goes through the same plugins as HTTP.
    expect(text).toMatch(/^gaol_graphql_operations_total\{kind="mutation",outcome="ok"\} [2-9]\d*$/m);
    expect(text).toMatch(/^gaol_graphql_ws_sockets 0$/m);
    expect(text).toContain("gaol_process_cpu_seconds_total");
  });

  it("counts boots, their stages and the lag of hosts' reports, from what agents report", async () => {
    const { provisionMachine } = await api.ok(
      user,
      `mutation { provisionMachine(input: { name: "m3" }) { ... on ProvisionMachinePayload { machine { id } } } }`,
    );
    const id = provisionMachine.machine.id;
    let seq = 0;
    const event = (kind: string, payload: object) => ({ machineId: id, agentSeq: ++seq, kind, payload });
    await api.ok(agent, `mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }`, {
      e: [
        event("MachineStateChanged", { state: "PROVISIONING" }),
        event("MachineStateChanged", { state: "BOOTING" }),
        event("BootStageReached", { stage: "sshd", uptimeSeconds: 0.24 }),
        event("MachineStateChanged", { state: "READY" }),
      ],
    });
    await expect
      .poll(async () => (await (await get("/metrics", admin)).text()).match(/^gaol_boot_seconds_count (\d+)$/m)?.[1])
      .toBe("1");
    const text = await (await get("/metrics", admin)).text();
    expect(text).toMatch(/^gaol_boot_stage_seconds_bucket\{le="0.3",stage="sshd"\} 1$/m);
    expect(text).toMatch(/^gaol_boot_stage_seconds_bucket\{le="0.2",stage="sshd"\} 0$/m);
    expect(text).toMatch(/^gaol_machine_outcomes_total\{outcome="READY"\} 1$/m);
    expect(text).toMatch(/^gaol_event_report_lag_seconds_count 4$/m);
  });

  it("refuses metrics to anyone but an admin, saying what is needed", async () => {
    for (const token of [undefined, user, "gaol_not_a_real_token_000000000000000000"]) {
      const response = await get("/metrics", token);
      expect(response.status).toBe(401);
      expect(await response.text()).toContain("an admin's token");
    }
  });

  it("answers liveness and readiness without a token", async () => {
    expect(await (await get("/healthz")).text()).toBe("ok\n");
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe("ready\n");
  });

  it("says not ready once its database stops answering", async () => {
    const lost = await startTestApi("pglite", undefined, { passIntervalMs: 0 });
    const lostOrigin = new URL(await lost.app.start(0)).origin;
    try {
      expect((await fetch(`${lostOrigin}/readyz`)).status).toBe(200);
      await lost.database.close();
      const response = await fetch(`${lostOrigin}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.text()).toBe("the database does not answer\n");
      expect((await fetch(`${lostOrigin}/healthz`)).status).toBe(200);
    } finally {
      await lost.close().catch(() => undefined);
    }
  });
});
