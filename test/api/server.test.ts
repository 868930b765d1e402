import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { printSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../api/app.js";
import { openPglite } from "../../db/client.js";
import { schema } from "../../schema/index.js";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";
import { tempDir } from "../helpers/temp-dir.js";

let api: TestApi;
let url: string;
let ann: string;

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.start(0);
  ann = await api.login("ann");
});
afterAll(() => api?.close());

describe("the server", () => {
  it("serves GraphiQL on GET /graphql with the auth header ready to fill", async () => {
    const response = await fetch(url, { headers: { accept: "text/html" } });
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(html).toContain("GraphiQL");
    expect(html).toContain("Authorization");
  });

  it("answers queries over real HTTP and subscriptions over graphql-ws on the same port", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ann}` },
      body: JSON.stringify({ query: "{ viewer { name } }" }),
    });
    expect(await response.json()).toEqual({ data: { viewer: { name: "ann" } } });
    await api.login("srv-host", "AGENT");
    const watchers = api.app.notifier.machineWatchers;
    const client = wsClient(url, ann);
    const changes = take<{ machines: { name: string; state: string } }>(
      client,
      "subscription { machines { name state } }",
      {},
      1,
    );
    await new Promise((r) => setTimeout(r, 100));
    await api.gql(ann, 'mutation { provisionMachine(input: { name: "watched" }) { __typename } }');
    expect(await changes).toEqual([{ machines: { name: "watched", state: "PENDING" } }]);
    // Unsubscribed: its listener goes at once, not at the next machine change.
    for (let i = 0; i < 100 && api.app.notifier.machineWatchers > watchers; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(api.app.notifier.machineWatchers).toBe(watchers);
    await client.dispose();
  });

  it("refuses bodies over the size limit", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ viewer { name } } # ${"x".repeat(2 << 20)}` }),
    });
    expect(response.status).toBe(413);
  });

  it("refuses queries nested too deep", async () => {
    let deep = "name";
    for (let i = 0; i < 8; i++) deep = `events { machine { ${deep} } }`;
    const { errors } = await api.gql(ann, `{ machines { edges { node { ${deep} } } } }`);
    expect(errors?.[0]?.message).toMatch(/depth limit of 15 exceeded, found \d+: nest fewer/);
    const nested = "{ machines { edges { node { owner { name } image { versions { version } } } } } }";
    expect((await api.gql(ann, nested)).errors).toBeUndefined();
  });

  it("masks internal errors", async () => {
    const { errors } = await api.gql(ann, 'query { machine(id: "not-a-global-id") { name } }');
    expect(errors?.[0]?.message).not.toMatch(/uuid|postgres|stack/i);
  });

  it("writes a first admin token, readable by root only, that works", async () => {
    const stateDir = join(await tempDir("gaol-t-bootstrap"), "state");
    const database = await openPglite();
    const app = await buildApp({ database, stateDir });
    await app.prepare();
    const file = join(stateDir, "admin-token");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, "utf8").trim();
    const response = await app.yoga.fetch("http://gaol.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "{ viewer { role } images { name } }" }),
    });
    expect(await response.json()).toEqual({ data: { viewer: { role: "ADMIN" }, images: [{ name: "debian" }] } });
    await app.stop();
    await database.close();
  });

  it("has a committed schema/schema.graphql that matches the code (run scripts/write-schema.ts)", () => {
    const committed = readFileSync(new URL("../../schema/schema.graphql", import.meta.url), "utf8");
    expect(committed).toBe(`${printSchema(schema)}\n`);
  });
});

describe("on the embedded database (PGlite)", () => {
  it("provisions, reports events and replays them", async () => {
    const embedded = await startTestApi("pglite");
    try {
      const agent = await embedded.login("pg-host", "AGENT");
      const user = await embedded.login("pat");
      const { data } = await embedded.gql(
        user,
        'mutation { provisionMachine(input: { name: "lite" }) { ... on ProvisionMachinePayload { machine { id state } } } }',
      );
      const id = data?.provisionMachine.machine.id;
      expect(data?.provisionMachine.machine.state).toBe("PENDING");
      const events = [1, 2].map((n) => ({
        machineId: id,
        agentSeq: n,
        kind: "ConsoleOutput",
        payload: { text: `l${n}` },
      }));
      const report = await embedded.gql(
        agent,
        "mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }",
        {
          e: events,
        },
      );
      expect(report.data?.reportMachineEvents.stored).toBe(2);
      const url2 = await embedded.app.start(0);
      const client = wsClient(url2, user);
      const got = await take<{ machineEvents: { cursor: string } }>(
        client,
        "subscription ($id: ID!) { machineEvents(machineId: $id) { cursor } }",
        { id },
        3,
      );
      await client.dispose();
      expect(got.map((e) => e.machineEvents.cursor)).toEqual(["1", "2", "3"]);
    } finally {
      await embedded.close();
    }
  });
});
