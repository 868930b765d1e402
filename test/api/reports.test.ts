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
