import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { GaolClient } from "../../clients/sdk/client.js";
import { machineEvents } from "../../clients/sdk/events.js";
import { endpointFromEnv } from "../../clients/sdk/node.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

let api: TestApi;
let url: string;
let user: string;
let agent: string;
let machineId: string;
let seq = 0;

async function report(texts: string[], through = api) {
  const events = texts.map((text) => ({ machineId, agentSeq: ++seq, kind: "ConsoleOutput", payload: { text } }));
  const { errors } = await through.gql(
    agent,
    "mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }",
    { e: events },
  );
  expect(errors).toBeUndefined();
}

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.start(0);
  agent = await api.login("sdk-host", "AGENT");
  user = await api.login("sdk-user");
  const { data } = await api.gql(
    user,
    'mutation { provisionMachine(input: { name: "sdk" }) { ... on ProvisionMachinePayload { machine { id } } } }',
  );
  machineId = data?.provisionMachine.machine.id;
});
afterAll(() => api?.close());

describe("the SDK's event iterator", () => {
  it("survives a dropped connection mid-stream with no gap and no repeat", async () => {
    await report(["a1", "a2", "a3"]);
    const seen: string[] = [];
    const cursors: number[] = [];
    const port = Number(new URL(url).port);
    const done = (async () => {
      for await (const event of machineEvents({ url, token: user, webSocket: WebSocket }, machineId)) {
        cursors.push(Number(event.cursor));
        if (event.__typename !== "ConsoleOutput") continue;
        seen.push(event.text);
        if (event.text === "b3") return;
      }
    })();
    while (seen.length < 3) await new Promise((r) => setTimeout(r, 20));
    // The api goes away (every socket drops), events keep arriving in the database, the api returns.
    await api.stop();
    const restarted = await startTestApi("postgres", api.database);
    await report(["b1", "b2"], restarted);
    await restarted.app.start(port);
    api.app = restarted.app;
    api.stop = restarted.stop;
    await report(["b3"]);
    await done;
    expect(seen).toEqual(["a1", "a2", "a3", "b1", "b2", "b3"]);
    expect(cursors).toEqual(cursors.map((_, i) => i + 1));
  });

  it("waits for a FAILED machine's end without calling the wait a failure (gaol rm of a failed machine)", async () => {
    const client = new GaolClient({ url, token: user, webSocket: WebSocket });
    const { data } = await api.gql(
      user,
      'mutation { provisionMachine(input: { name: "sdk-failed" }) { ... on ProvisionMachinePayload { machine { id } } } }',
    );
    const id = data?.provisionMachine.machine.id as string;
    const state = (agentSeq: number, payload: object) =>
      api.gql(agent, "mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }", {
        e: [{ machineId: id, agentSeq, kind: "MachineStateChanged", payload }],
      });
    await state(1, { state: "FAILED", reason: "no DHCP answer" });
    await client.destroy(id);
    const waited = client.waitForState(id, "DESTROYED", { timeoutMs: 10_000 });
    await state(2, { state: "DESTROYED" });
    await expect(waited).resolves.toBeUndefined();
    // Waiting for READY still reports the failure.
    await expect(client.waitForState(id, "READY", { timeoutMs: 10_000 })).rejects.toThrow(/failed: no DHCP answer/);
  });

  it("takes GAOL_API as people write it, and says what is wrong with one that is no api", async () => {
    const root = new URL(url).origin;
    const endpoint = endpointFromEnv({ GAOL_API: root, GAOL_TOKEN: `Bearer ${user}` });
    expect(endpoint.url).toBe(`${root}/graphql`);
    expect((await new GaolClient(endpoint).viewer()).name).toBe("sdk-user");
    const elsewhere = new GaolClient({ url: `${root}/nothing-here`, token: user });
    await expect(elsewhere.viewer()).rejects.toThrow(/is not a gaol api \(HTTP 404\): GAOL_API is the api's \/graphql/);
    expect(() => endpointFromEnv({ GAOL_API: "localhost:4000" })).toThrow(/not a URL/);
  });
});
