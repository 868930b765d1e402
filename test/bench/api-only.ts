import type { TestApi } from "../helpers/api.js";
import { wsClient } from "../helpers/api.js";
import type { Results } from "./results.js";

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
    const clients = Array.from({ length: subscribers }, () => wsClient(url, user));
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const rounds = 50;
    const done = clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          let seen = 0;
          client.subscribe<{ machineEvents: { text?: string } }>(
            {
              query: `subscription ($id: ID!, $after: String) { machineEvents(machineId: $id, after: $after) { ... on ConsoleOutput { text } } }`,
              variables: { id: machineId, after },
            },
            {
              next: (result) => {
                const sent = sentAt.get(result.data?.machineEvents.text ?? "");
                if (sent !== undefined) latencies.push(performance.now() - sent);
                if (++seen >= rounds) resolve();
              },
              error: () => resolve(),
              complete: () => resolve(),
            },
          );
        }),
    );
    await new Promise((r) => setTimeout(r, 300 + subscribers * 5));
    for (let i = 0; i < rounds; i++) {
      const text = `bench ${subscribers} ${i}`;
      sentAt.set(text, performance.now());
      const report = await api.gql(
        agentToken,
        `mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }`,
        { e: [{ machineId, agentSeq: ++seq, kind: "ConsoleOutput", payload: { text } }] },
      );
      if (report.errors) throw new Error(report.errors.map((e) => e.message).join("; "));
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 20_000))]);
    await Promise.all(clients.map((c) => c.dispose()));
    results.samples(`event report → ${subscribers} subscriber(s), api only`, latencies);
  }
  const list: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await api.gql(user, "{ machines(first: 50) { edges { node { id name state ipAddress } } } }");
    list.push(performance.now() - t);
  }
  results.samples("machines(first: 50) via yoga.fetch", list);
}
