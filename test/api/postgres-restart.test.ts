import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localId } from "../../agent/api/ids.js";
import { machineEvent } from "../../core/index.js";
import { type Database, openPostgres } from "../../db/client.js";
import { appendEvent } from "../../db/queries/events.js";
import { requestReboot } from "../../db/queries/machines.js";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";
import { PostgresServer } from "../helpers/postgres-server.js";

// A Postgres server of this file's own, crashed and started again under a running api: its
// LISTEN connection must come back, and what was notified while it was away must still arrive.
const server = new PostgresServer(
  "/var/lib/gaol-test/postgres-restart",
  Number(process.env.GAOL_TEST_PG_PORT ?? 55432) + 2,
);
const SUBSCRIBE = `subscription ($id: ID!) {
  machineEvents(machineId: $id) { __typename cursor ... on ConsoleOutput { text } }
}`;
type Ev = { machineEvents: { __typename: string; cursor: string; text?: string } };

let api: TestApi;
let url: string;
let owner: string;
let replica: Database | undefined;

beforeAll(async () => {
  await server.create();
  api = await startTestApi("postgres", await openPostgres(server.url));
  url = await api.app.start(0);
  // A host to place on: an agent's first login makes one.
  await api.login("restart-host", "AGENT");
  owner = await api.login("restart-owner");
}, 120_000);

afterAll(async () => {
  await replica?.close();
  await api?.close();
  await api?.database.close().catch(() => undefined);
  await server.remove();
});

describe("an api whose Postgres crashed and came back", () => {
  it("delivers to a subscriber what another replica appended after the restart", async () => {
    const { provisionMachine } = await api.ok(
      owner,
      `mutation { provisionMachine(input: { name: "restarted" }) { ... on ProvisionMachinePayload { machine { id } } } }`,
    );
    const id: string = provisionMachine.machine.id;
    const seen: Ev[] = [];
    const client = wsClient(url, owner, { retryAttempts: 5 });
    const all = take<Ev>(client, SUBSCRIBE, { id }, 2, 40_000).then((events) => seen.push(...events));
    await expect.poll(() => api.app.notifier.watching(localId(id)), { timeout: 10_000 }).toBe(1);

    await server.stop("immediate");
    await server.start();
    // Another replica's write: this api hears of it only through Postgres, never from itself.
    replica = await openPostgres(server.url);
    const db = replica.db;
    await db.transaction((tx) => appendEvent(tx, localId(id), machineEvent("ConsoleOutput", { text: "after" })));

    await all;
    client.dispose();
    expect(seen.map((e) => e.machineEvents.text ?? e.machineEvents.__typename)).toEqual([
      "MachineStateChanged",
      "after",
    ]);
  }, 60_000);

  it("sends a `machines` subscriber a machine another replica changed while LISTEN was down", async () => {
    const { provisionMachine } = await api.ok(
      owner,
      `mutation { provisionMachine(input: { name: "changed-meanwhile" }) { ... on ProvisionMachinePayload { machine { id } } } }`,
    );
    const id: string = provisionMachine.machine.id;
    const client = wsClient(url, owner, { retryAttempts: 5 });
    // The resync sends each of the owner's live machines (two): the one changed meanwhile among them.
    const changed = take<{ machines: { id: string } }>(client, "subscription { machines { id } }", {}, 2, 20_000);
    await expect.poll(() => api.app.notifier.machineWatchers, { timeout: 10_000 }).toBe(1);

    await server.stop("immediate");
    await server.start();
    const other = await openPostgres(server.url);
    await other.db.transaction((tx) => requestReboot(tx, localId(id)));
    await other.close();

    const seen = await changed;
    client.dispose();
    expect(seen.map((m) => m.machines.id)).toContain(id);
  }, 60_000);
});
