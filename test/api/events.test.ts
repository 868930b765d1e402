import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { localId } from "../../agent/api/ids.js";
import { machineEventStream } from "../../live/index.js";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";

const SUBSCRIBE = `subscription ($id: ID!, $after: String) {
  machineEvents(machineId: $id, after: $after) {
    __typename cursor
    ... on ConsoleOutput { text }
    ... on MachineStateChanged { state }
  }
}`;
const REPORT = `mutation ($events: [MachineEventInput!]!) { reportMachineEvents(events: $events) { stored duplicates } }`;

type Ev = { machineEvents: { __typename: string; cursor: string; text?: string; state?: string } };

let api: TestApi;
let url: string;
let ann: string;
let bob: string;
let agent: string;
let machineId: string;
let agentSeq = 0;

function consoleLines(texts: string[]) {
  return texts.map((text) => ({ machineId, agentSeq: ++agentSeq, kind: "ConsoleOutput", payload: { text } }));
}

async function report(events: object[], through: TestApi = api) {
  const { data, errors } = await through.gql(agent, REPORT, { events });
  expect(errors).toBeUndefined();
  return data?.reportMachineEvents;
}

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.start(0);
  agent = await api.login("events-host", "AGENT");
  ann = await api.login("ann");
  bob = await api.login("bob");
  const { data } = await api.gql(
    ann,
    'mutation { provisionMachine(input: { name: "ev" }) { ... on ProvisionMachinePayload { machine { id } } } }',
  );
  machineId = data?.provisionMachine.machine.id;
});
afterAll(() => api?.close());

describe("machine events", () => {
  it("stores a retried batch once (idempotent by the agent's sequence)", async () => {
    const batch = consoleLines(["one", "two"]);
    expect(await report(batch)).toEqual({ stored: 2, duplicates: 0 });
    expect(await report(batch)).toEqual({ stored: 0, duplicates: 2 });
    const { data } = await api.gql(
      ann,
      "query ($id: ID!) { machine(id: $id) { events { cursor ... on ConsoleOutput { text } } } }",
      {
        id: machineId,
      },
    );
    expect(data?.machine.events.map((e: { text?: string }) => e.text ?? null)).toEqual([null, "one", "two"]);
  });

  it("replays the backlog over graphql-ws, then continues live, in order, without gaps or repeats", async () => {
    const client = wsClient(url, ann);
    const received = take<Ev>(client, SUBSCRIBE, { id: machineId }, 3 + 50);
    await new Promise((r) => setTimeout(r, 100));
    // Live events arrive in many small batches while the subscriber is replaying.
    for (let i = 0; i < 10; i++) await report(consoleLines([0, 1, 2, 3, 4].map((j) => `live ${i * 5 + j}`)));
    const events = await received;
    await client.dispose();
    const cursors = events.map((e) => Number(e.machineEvents.cursor));
    expect(cursors).toEqual(cursors.map((_, i) => i + 1));
    expect(events.slice(3).map((e) => e.machineEvents.text)).toEqual(Array.from({ length: 50 }, (_, i) => `live ${i}`));
  });

  it("resumes after a cursor: a reconnecting client gets exactly what it missed", async () => {
    const first = wsClient(url, ann);
    const seen = await take<Ev>(first, SUBSCRIBE, { id: machineId }, 10);
    await first.dispose();
    await report(consoleLines(["while away 1", "while away 2"]));
    const last = seen.at(-1)?.machineEvents.cursor;
    const second = wsClient(url, ann);
    const rest = await take<Ev>(second, SUBSCRIBE, { id: machineId, after: last }, 53 - 10 + 2);
    await second.dispose();
    const all = [...seen, ...rest].map((e) => Number(e.machineEvents.cursor));
    expect(all).toEqual(all.map((_, i) => i + 1));
    expect(rest.at(-1)?.machineEvents.text).toBe("while away 2");
  });

  it("loses nothing across an api restart: a second api over the same database continues the stream", async () => {
    const before = await api.gql(ann, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const lastCursor = before.data?.machine.events.at(-1).cursor;
    await api.stop();
    const restarted = await startTestApi("postgres", api.database);
    const url2 = await restarted.app.start(0);
    const client = wsClient(url2, ann);
    const next = take<Ev>(client, SUBSCRIBE, { id: machineId, after: lastCursor }, 3);
    await new Promise((r) => setTimeout(r, 100));
    const { errors } = await restarted.gql(agent, REPORT, {
      events: consoleLines(["after restart 1", "after restart 2", "after restart 3"]),
    });
    expect(errors).toBeUndefined();
    const events = await next;
    await client.dispose();
    expect(events.map((e) => e.machineEvents.cursor)).toEqual([1, 2, 3].map((i) => String(Number(lastCursor) + i)));
    // The restarted api serves the remaining tests.
    api.app = restarted.app;
    api.stop = restarted.stop;
    url = url2;
  });

  it("delivers every event through every api replica sharing one Postgres (LISTEN/NOTIFY)", async () => {
    const replicaA = await startTestApi("postgres", api.database);
    const replicaB = await startTestApi("postgres", api.database);
    const [urlA, urlB] = [await replicaA.app.start(0), await replicaB.app.start(0)];
    const { data } = await api.gql(ann, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const after = data?.machine.events.at(-1).cursor;
    const [clientA, clientB] = [wsClient(urlA, ann), wsClient(urlB, ann)];
    const gotA = take<Ev>(clientA, SUBSCRIBE, { id: machineId, after }, 4);
    const gotB = take<Ev>(clientB, SUBSCRIBE, { id: machineId, after }, 4);
    await new Promise((r) => setTimeout(r, 150));
    // Written through replica A; B hears of it only through Postgres.
    await replicaA.gql(agent, REPORT, { events: consoleLines(["r1", "r2", "r3", "r4"]) });
    const [a, b] = await Promise.all([gotA, gotB]);
    await Promise.all([clientA.dispose(), clientB.dispose()]);
    expect(a.map((e) => e.machineEvents.text)).toEqual(["r1", "r2", "r3", "r4"]);
    expect(b).toEqual(a);
    await replicaA.stop();
    await replicaB.stop();
  });

  it("lets go of an unsubscribed stream at once, not at the machine's next event", async () => {
    const client = wsClient(url, ann);
    await take<Ev>(client, SUBSCRIBE, { id: machineId }, 1);
    const deadline = Date.now() + 2000;
    while (api.app.notifier.watching(machineId) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(api.app.notifier.watching(machineId)).toBe(0);
    await client.dispose();
  });

  it("holds events for a subscriber that stops reading and hands over all of them, in order, once it reads again", async () => {
    const { data } = await api.gql(ann, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const after = data?.machine.events.at(-1).cursor;
    // The protocol by hand, so that the client's socket can stop reading.
    const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
    await once(socket, "open");
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${ann}` } }));
    const texts: string[] = [];
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      if (message.type === "next") texts.push(message.payload.data.machineEvents.text);
    });
    const subscribe = { query: SUBSCRIBE, variables: { id: machineId, after } };
    socket.once("message", () => socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: subscribe })));
    await report(consoleLines(["first"]));
    while (texts.length === 0) await new Promise((r) => setTimeout(r, 10));
    const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    // About 6 MiB while it does not read: more than the kernel's buffers and the 1 MiB the api keeps for it.
    const big = "x".repeat(3000);
    for (let i = 0; i < 20; i++)
      await report(consoleLines(Array.from({ length: 100 }, (_, j) => `${i * 100 + j} ${big}`)));
    tcp.resume();
    const deadline = Date.now() + 20_000;
    while (texts.length < 2001 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.close();
    expect(texts.length).toBe(2001);
    expect(texts.slice(1).map((text) => Number(text.split(" ")[0]))).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it("refuses a subscription to someone else's machine, and one without a token", async () => {
    const client = wsClient(url, bob);
    await expect(take(client, SUBSCRIBE, { id: machineId }, 1, 3000)).rejects.toThrow(/not found/);
    await client.dispose();
    const anonymous = wsClient(url, "gaol_nope");
    await expect(take(anonymous, SUBSCRIBE, { id: machineId }, 1, 3000)).rejects.toThrow(/Not authorized/);
    await anonymous.dispose();
  });

  it("streams over SSE on the same path", async () => {
    const response = await api.app.yoga.fetch("http://gaol.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${ann}` },
      body: JSON.stringify({ query: SUBSCRIBE, variables: { id: machineId } }),
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body?.getReader();
    let text = "";
    while (!text.includes('"cursor":"2"')) text += new TextDecoder().decode((await reader?.read())?.value);
    await reader?.cancel();
    expect(text).toContain('"cursor":"1"');
  });
  it("stores reports that race for the same machine, each event once, in one gapless order", async () => {
    const before = await api.gql(ann, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const last = Number(before.data?.machine.events.at(-1).cursor);
    const batches = Array.from({ length: 10 }, (_, b) => consoleLines([0, 1, 2, 3, 4].map((i) => `race ${b}-${i}`)));
    const results = await Promise.all(batches.map((batch) => report(batch)));
    expect(results.reduce((sum, r) => sum + r.stored, 0)).toBe(50);
    const { data } = await api.gql(
      ann,
      "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor ... on ConsoleOutput { text } } } }",
      { id: machineId },
    );
    const raced = data?.machine.events.slice(-50) as Array<{ cursor: string; text: string }>;
    expect(raced.map((e) => Number(e.cursor))).toEqual(Array.from({ length: 50 }, (_, i) => last + 1 + i));
    expect(new Set(raced.map((e) => e.text)).size).toBe(50);
    // Each batch's own events keep their order.
    for (let b = 0; b < 10; b++) {
      const mine = raced.filter((e) => e.text.startsWith(`race ${b}-`)).map((e) => e.text);
      expect(mine).toEqual([0, 1, 2, 3, 4].map((i) => `race ${b}-${i}`));
    }
  });
  it("hands a caught-up stream's new events over in the turn they are stored, and a refused one through next()", async () => {
    // An api of its own: the one that stores a report hands its rows over before it answers.
    const own = await startTestApi("postgres", api.database);
    const uuid = localId(machineId);
    const { data } = await own.gql(ann, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const stream = machineEventStream(
      own.database.db,
      own.app.notifier,
      uuid,
      Number(data?.machine.events.at(-1).cursor),
    );
    const text = (event: unknown) => (event as { payload: { text: string } }).payload.text;
    const first = stream.next();
    await report(consoleLines(["f1"]), own);
    expect(text((await first).value)).toBe("f1");
    const taken: string[] = [];
    let refuse = false;
    const following = stream.follow((event) => {
      if (refuse) return false;
      taken.push(text(event));
      return true;
    });
    expect(following).toBeDefined();
    await report(consoleLines(["f2", "f3"]), own);
    expect(taken).toEqual(["f2", "f3"]);
    refuse = true;
    await report(consoleLines(["f4", "f5"]), own);
    await following;
    expect(taken).toEqual(["f2", "f3"]);
    expect(text((await stream.next()).value)).toBe("f4");
    expect(text((await stream.next()).value)).toBe("f5");
    await stream.return();
    expect(own.app.notifier.watching(uuid)).toBe(0);
    await own.stop();
  });
});
