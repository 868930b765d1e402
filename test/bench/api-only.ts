import type { TestApi } from "../helpers/api.js";
import type { Results } from "./results.js";
import { startSubscribers } from "./subscribers.js";

/** The api alone (no machines boot): list latency and event fan-out from an agent's report to subscribers. */
export async function benchApiOnly(api: TestApi, results: Results): Promise<void> {
  const user = await api.login("bench-user");
  const agentToken = await api.login("bench-host", "AGENT");
  await api.database.db.execute("update users set max_machines = 1000, max_memory_mib = 1000000" as never);
  for (let i = 0; i < 50; i++)
    await api.gql(user, `mutation { provisionMachine(input: { name: "b-${i}", memoryMiB: 64 }) { __typename } }`);
  const { data } = await api.gql(user, "{ machines(first: 1) { edges { node { id } } } }");
  const machineId = data?.machines.edges[0].node.id as string;
  const url = await api.app.start(0);
  let seq = 0;
  for (const subscribers of [1, 100, 1000]) {
    const events = await api.gql(user, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const after = events.data?.machine.events.at(-1)?.cursor as string | undefined;
    const lines = 50;
    const prefix = `bench-${subscribers}-`;
    // The subscribers live in a thread of their own, as they would in other processes.
    const clients = await startSubscribers({ url, token: user, machineId, after, subscribers, prefix, lines });
    const report = async (text: string) => {
      const event = { machineId, agentSeq: ++seq, kind: "ConsoleOutput", at: new Date().toISOString() };
      const reported = await api.gql(
        agentToken,
        `mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }`,
        { e: [{ ...event, payload: { text } }] },
      );
      if (reported.errors) throw new Error(reported.errors.map((e) => e.message).join("; "));
    };
    let warmed = false;
    void clients.warm.then(() => {
      warmed = true;
    });
    for (let i = 0; !warmed && i < 100; i++) {
      await report(`${prefix}warm-${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 1; i <= lines; i++) {
      await report(`${prefix}${i}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    results.samples(`event report → ${subscribers} subscriber(s), api only`, await clients.latencies);
    await clients.stop();
  }
  const list: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await api.gql(user, "{ machines(first: 50) { edges { node { id name state ipAddress } } } }");
    list.push(performance.now() - t);
  }
  results.samples("machines(first: 50) via yoga.fetch", list);
}
