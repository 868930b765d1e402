import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../helpers/api.js";

const REPORT = `mutation ($events: [MachineEventInput!]!) { reportMachineEvents(events: $events) { stored duplicates } }`;
const EVENTS = `query ($id: ID!) { machine(id: $id) { state events {
  __typename
  ... on LeaseWarning { message gaveUp }
  ... on MachineStateChanged { state reason lastConsoleLines }
} } }`;

let api: TestApi;
let agent: string;
let ann: string;
let agentSeq = 0;

async function provision(name: string): Promise<string> {
  const { data } = await api.gql(
    ann,
    `mutation { provisionMachine(input: { name: "${name}" }) { ... on ProvisionMachinePayload { machine { id } } } }`,
  );
  return data?.provisionMachine.machine.id;
}

const event = (machineId: string, kind: string, payload: unknown) => ({
  machineId,
  agentSeq: ++agentSeq,
  kind,
  payload,
});

beforeAll(async () => {
  api = await startTestApi();
  agent = await api.login("reports-host", "AGENT");
  ann = await api.login("ann");
});
afterAll(() => api?.close());

describe("an agent's reports, checked against the event vocabulary", () => {
  it("stores a new kind end to end: LeaseWarning is reported, stored and read back with its fields", async () => {
    const id = await provision("warned");
    const gaveUp = "IP-Config: Auto-configuration of network failed";
    const { errors } = await api.gql(agent, REPORT, {
      events: [
        event(id, "LeaseWarning", { message: "no DHCP answer yet" }),
        event(id, "LeaseWarning", { message: "no DHCP server answered", gaveUp }),
      ],
    });
    expect(errors).toBeUndefined();
    const { data } = await api.gql(ann, EVENTS, { id });
    expect(data?.machine.events.slice(1)).toEqual([
      { __typename: "LeaseWarning", message: "no DHCP answer yet", gaveUp: null },
      { __typename: "LeaseWarning", message: "no DHCP server answered", gaveUp },
    ]);
  });

  it("refuses a batch with a payload that does not fit its kind, naming the field, and stores none of it", async () => {
    const id = await provision("lied");
    for (const [kind, payload, field] of [
      ["SshReady", { ip: "10.0.0.5", port: "22", hostKeys: [] }, "events.1.payload.port"],
      ["MachineStateChanged", { state: "ROOTED" }, "events.1.payload.state"],
      ["ConsoleOutput", { text: "x", sneaky: true }, "events.1.payload.sneaky"],
      ["Exploded", {}, "events.1.kind"],
      ["MachineUnresponsive", { reason: "no answer", failures: 3, since: "yesterday" }, "events.1.payload.since"],
    ] as const) {
      const { data, errors } = await api.gql(agent, REPORT, {
        events: [event(id, "ConsoleOutput", { text: "fine" }), event(id, kind, payload)],
      });
      expect(data?.reportMachineEvents ?? null, kind).toBeNull();
      expect(errors?.[0]?.extensions?.code, kind).toBe("BAD_USER_INPUT");
      expect(errors?.[0]?.message, kind).toContain(field);
    }
    const { data } = await api.gql(ann, EVENTS, { id });
    expect(data?.machine.events).toHaveLength(1);
  });

  it("stores a state change the transition table refuses without changing the machine", async () => {
    const id = await provision("skipped");
    await api.gql(agent, REPORT, { events: [event(id, "MachineStateChanged", { state: "READY" })] });
    let { data } = await api.gql(ann, EVENTS, { id });
    // PENDING cannot become READY without a boot: the report is kept, the row is not changed.
    expect(data?.machine.state).toBe("PENDING");
    expect(data?.machine.events.map((e: { state?: string }) => e.state)).toEqual(["PENDING", "READY"]);
    await api.gql(agent, REPORT, {
      events: ["PROVISIONING", "BOOTING", "RUNNING", "READY"].map((state) =>
        event(id, "MachineStateChanged", { state }),
      ),
    });
    ({ data } = await api.gql(ann, EVENTS, { id }));
    expect(data?.machine.state).toBe("READY");
  });
});

const HEALTH = `query ($id: ID!) { machine(id: $id) { state health { status since reason } } }`;

describe("a READY machine's health, as the host's probes report it", () => {
  const hostKeys = [{ type: "ssh-ed25519", fingerprintSha256: "SHA256:x", publicKey: "ssh-ed25519 AAAA" }];
  const boot = (id: string) =>
    api.gql(agent, REPORT, {
      events: [
        ...["PROVISIONING", "BOOTING"].map((state) => event(id, "MachineStateChanged", { state })),
        event(id, "SshReady", { ip: "10.0.0.9", port: 22, hostKeys }),
        event(id, "MachineStateChanged", { state: "READY" }),
      ],
    });
  const health = async (id: string) => (await api.gql(ann, HEALTH, { id })).data?.machine;

  it("is null before READY, HEALTHY once READY, UNRESPONSIVE after the event, and HEALTHY again when it answers", async () => {
    const id = await provision("probed");
    expect(await health(id)).toEqual({ state: "PENDING", health: null });
    await boot(id);
    expect(await health(id)).toMatchObject({ state: "READY", health: { status: "HEALTHY", reason: null } });

    const since = "2026-12-01T10:00:00.000Z";
    const reason = "ssh at 10.0.0.9:22 did not answer within 3 s";
    await api.gql(agent, REPORT, { events: [event(id, "MachineUnresponsive", { reason, failures: 3, since })] });
    // Still READY: the boot's proof stands, and reboot and destroy work as for any READY machine.
    expect(await health(id)).toEqual({ state: "READY", health: { status: "UNRESPONSIVE", since, reason } });

    const { errors } = await api.gql(agent, REPORT, {
      events: [event(id, "MachineResponsive", { unresponsiveSeconds: 95.5 })],
    });
    expect(errors).toBeUndefined();
    const back = await health(id);
    expect(back).toMatchObject({ state: "READY", health: { status: "HEALTHY", reason: null } });
    expect(Date.parse(back.health.since)).toBeGreaterThan(Date.parse(since));
  });

  it("an unresponsive machine can be rebooted, and is HEALTHY after its new READY", async () => {
    const id = await provision("rebooted");
    await boot(id);
    await api.gql(agent, REPORT, {
      events: [event(id, "MachineUnresponsive", { reason: "connection refused", failures: 3, since: new Date() })],
    });
    const { data } = await api.gql(
      ann,
      `mutation ($id: ID!) { rebootMachine(id: $id) { __typename ... on RebootMachinePayload { machine { rebootGeneration } } } }`,
      { id },
    );
    expect(data?.rebootMachine).toEqual({ __typename: "RebootMachinePayload", machine: { rebootGeneration: 1 } });
    await api.gql(agent, REPORT, {
      events: [event(id, "MachineStateChanged", { state: "STOPPING", reason: "reboot" })],
    });
    expect(await health(id)).toEqual({ state: "STOPPING", health: null });
    // A probe of the old boot that arrives late changes nothing.
    await api.gql(agent, REPORT, {
      events: [
        event(id, "MachineUnresponsive", { reason: "late", failures: 3, since: new Date() }),
        event(id, "MachineStateChanged", { state: "BOOTING", reason: "reboot" }),
        event(id, "SshReady", { ip: "10.0.0.9", port: 22, hostKeys }),
        event(id, "MachineStateChanged", { state: "READY" }),
      ],
    });
    expect(await health(id)).toMatchObject({ state: "READY", health: { status: "HEALTHY", reason: null } });
  });
});
