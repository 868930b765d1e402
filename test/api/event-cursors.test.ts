import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localId } from "../../agent/api/ids.js";
import { machineEvent } from "../../core/index.js";
import { appendEvent } from "../../db/queries/events.js";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";

// Postgres orders a sequence by when a value was taken, not by commit: a cursor over such an
// order can pass an event that commits late. gaol's cursor is each machine's own seq, taken under
// the machine's row: these tests hold a commit back and show no subscriber can skip or reorder.
const SUBSCRIBE = `subscription ($id: ID!, $after: String) {
  machineEvents(machineId: $id, after: $after) { __typename cursor ... on ConsoleOutput { text } }
}`;
const REPORT = `mutation ($events: [MachineEventInput!]!) { reportMachineEvents(events: $events) { stored } }`;

type Ev = { machineEvents: { __typename: string; cursor: string; text?: string } };

let api: TestApi;
let url: string;
let owner: string;
let agent: string;
let agentSeq = 0;

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0 });
  url = await api.app.start(0);
  agent = await api.login("cursors-host", "AGENT");
  owner = await api.login("cursors-owner");
});
afterAll(() => api?.close());

async function newMachine(name: string): Promise<string> {
  const { provisionMachine } = await api.ok(
    owner,
    `mutation ($name: String!) { provisionMachine(input: { name: $name }) { ... on ProvisionMachinePayload { machine { id } } } }`,
    { name },
  );
  return provisionMachine.machine.id;
}

/** Appends a console line in a transaction whose commit waits holdMs after the append. */
async function slowAppend(id: string, text: string, holdMs: number): Promise<number> {
  await api.database.db.transaction(async (tx) => {
    await appendEvent(tx, localId(id), machineEvent("ConsoleOutput", { text }));
    await tx.execute(sql`select pg_sleep(${holdMs / 1000})`);
  });
  return Date.now();
}

describe("event cursors under concurrent writers, on real Postgres", () => {
  it("orders an agent's report after an append whose commit is held back, and delivers both once, in order", async () => {
    const id = await newMachine("late-commit");
    const client = wsClient(url, owner);
    // Live from the first event: PENDING is there already.
    const seen = take<Ev>(client, SUBSCRIBE, { id }, 4, 20_000);
    await new Promise((r) => setTimeout(r, 200));

    const slow = slowAppend(id, "held back", 1500);
    await new Promise((r) => setTimeout(r, 200));
    // Reported while that commit is held: it waits for it rather than taking the place before it.
    const reported = api
      .ok(agent, REPORT, {
        events: [{ machineId: id, agentSeq: ++agentSeq, kind: "ConsoleOutput", payload: { text: "reported" } }],
      })
      .then(() => Date.now());
    const [committed, reportedAt] = await Promise.all([slow, reported]);
    // Within the ms two callbacks may take: unheld, the report would be done 1.3 s before the commit.
    expect(reportedAt).toBeGreaterThanOrEqual(committed - 50);
    await api.ok(agent, REPORT, {
      events: [{ machineId: id, agentSeq: ++agentSeq, kind: "ConsoleOutput", payload: { text: "after" } }],
    });

    const events = (await seen).map((e) => e.machineEvents);
    expect(events.map((e) => e.text ?? e.__typename)).toEqual([
      "MachineStateChanged",
      "held back",
      "reported",
      "after",
    ]);
    const seqs = events.map((e) => Number(e.cursor));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(4);

    // A subscriber resuming from each cursor gets exactly what followed it.
    for (const [i, event] of events.entries()) {
      const rest = events.length - i - 1;
      if (rest === 0) continue;
      const resumed = await take<Ev>(client, SUBSCRIBE, { id, after: event.cursor }, rest, 10_000);
      expect(resumed.map((r) => r.machineEvents.cursor)).toEqual(events.slice(i + 1).map((e) => e.cursor));
    }
    await client.dispose();
  });

  it("never shows an event before the one before it commits, across many writers at once", async () => {
    const id = await newMachine("many-writers");
    const client = wsClient(url, owner);
    const writers = 12;
    const seen = take<Ev>(client, SUBSCRIBE, { id }, writers + 1, 30_000);
    await new Promise((r) => setTimeout(r, 200));
    // Half hold their commits back a while; half report as an agent does, all at once.
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        i % 2 === 0
          ? slowAppend(id, `w${i}`, 100 + ((i * 37) % 300))
          : api.ok(agent, REPORT, {
              events: [{ machineId: id, agentSeq: ++agentSeq, kind: "ConsoleOutput", payload: { text: `w${i}` } }],
            }),
      ),
    );
    const events = (await seen).map((e) => e.machineEvents);
    const seqs = events.map((e) => Number(e.cursor));
    // Delivered in cursor order with no gap: nothing was passed and later found behind.
    expect(seqs).toEqual(Array.from({ length: writers + 1 }, (_, i) => (seqs[0] as number) + i));
    expect(new Set(events.slice(1).map((e) => e.text)).size).toBe(writers);
    await client.dispose();
  });
});
