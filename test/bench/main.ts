// `npm run bench`: numbers, never pass/fail. Real Postgres, real UML on a LAN of its own.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Agent } from "../../agents/agent.js";
import { hostConfigFromEnv } from "../../agents/config.js";
import { Host } from "../../agents/host.js";
import { ensureHost } from "../../agents/setup/index.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi, wsClient } from "../helpers/api.js";
import { createTestLan } from "../helpers/lan.js";
import { setup as startPostgres, teardown as stopPostgres } from "../helpers/postgres-server.js";

const NS = "gaol-bench";
const WORK = "/var/lib/gaol-test/bench";
const results: Record<string, number | string> = {};

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function record(name: string, samples: number[], unit = "ms") {
  if (samples.length === 0) {
    results[name] = "no samples";
    return;
  }
  results[`${name} p50 (${unit})`] = Number(quantile(samples, 0.5).toFixed(1));
  results[`${name} p99 (${unit})`] = Number(quantile(samples, 0.99).toFixed(1));
}

async function apiOnly(api: TestApi) {
  const user = await api.login("bench-user");
  await api.login("bench-host", "AGENT");
  const agentToken = await api.login("bench-host", "AGENT");
  await api.database.db.execute("update users set max_machines = 1000, max_memory_mib = 1000000" as never);
  for (let i = 0; i < 50; i++)
    await api.gql(user, `mutation { provisionMachine(input: { name: "b-${i}", memoryMiB: 64 }) { __typename } }`);
  const { data } = await api.gql(user, "{ machines(first: 1) { edges { node { id } } } }");
  const machineId = data?.machines.edges[0].node.id as string;
  const url = await api.app.start(0);
  for (const subscribers of [1, 100, 1000]) {
    const events = await api.gql(user, "query ($id: ID!) { machine(id: $id) { events(first: 5000) { cursor } } }", {
      id: machineId,
    });
    const after = events.data?.machine.events.at(-1).cursor as string;
    const clients = Array.from({ length: subscribers }, () => wsClient(url, user));
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let seq = 10_000 * subscribers;
    const rounds = 50;
    const done = clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          let seen = 0;
          client.subscribe<{ machineEvents: { __typename: string; text?: string } }>(
            {
              query: `subscription ($id: ID!, $after: String) { machineEvents(machineId: $id, after: $after) { __typename ... on ConsoleOutput { text } } }`,
              variables: { id: machineId, after },
            },
            {
              next: (result) => {
                const text = result.data?.machineEvents.text ?? "";
                const sent = sentAt.get(text);
                if (sent !== undefined) latencies.push(performance.now() - sent);
                if (++seen >= rounds) resolve();
              },
              error: (error) => {
                console.error("subscription error", JSON.stringify(error).slice(0, 300));
                resolve();
              },
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
        {
          e: [{ machineId, agentSeq: ++seq, kind: "ConsoleOutput", payload: { text } }],
        },
      );
      if (report.errors) throw new Error(report.errors.map((e) => e.message).join("; "));
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 20_000))]);
    await Promise.all(clients.map((c) => c.dispose()));
    record(`event append → ${subscribers} subscriber(s)`, latencies);
  }
  const list: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await api.gql(user, "{ machines(first: 50) { edges { node { id name state ipAddress } } } }");
    list.push(performance.now() - t);
  }
  record("machines(first: 50) via yoga.fetch", list);
}

async function withMachines(api: TestApi, url: string) {
  const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
  const lan = await createTestLan(NS, 40, join(WORK, "lan"));
  const owner = await createAccount("gaolbench", 1531);
  const agentToken = await api.login("bench-uml-host", "AGENT", { hostMemoryMiB: 0 });
  const user = await api.login(owner.name);
  const agent = new Agent({ api: url, token: agentToken, config, capacity: { memoryMiB: 8192, maxMachines: 20 } });
  await agent.start();
  const waitFor = async (id: string, state: string) => {
    const client = wsClient(url, user);
    try {
      for await (const r of client.iterate<{ machineEvents: { state?: string } }>({
        query: `subscription ($id: ID!) { machineEvents(machineId: $id) { ... on MachineStateChanged { state } } }`,
        variables: { id },
      })) {
        const s = r.data?.machineEvents.state;
        if (s === state || s === "FAILED") return s;
      }
    } finally {
      await client.dispose();
    }
  };
  const ready: number[] = [];
  const destroyed: number[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      let t = performance.now();
      const { data } = await api.gql(
        user,
        `mutation { provisionMachine(input: { name: "seq-${i}" }) { ... on ProvisionMachinePayload { machine { id } } } }`,
      );
      const id = data?.provisionMachine.machine.id as string;
      if ((await waitFor(id, "READY")) !== "READY") throw new Error("a machine failed to boot");
      ready.push(performance.now() - t);
      t = performance.now();
      await api.gql(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
      await waitFor(id, "DESTROYED");
      destroyed.push(performance.now() - t);
    }
    record("provision → READY through the api, 10 sequential", ready);
    record("destroy → DESTROYED through the api, 10 sequential", destroyed);
  } finally {
    await agent.stop();
    const host = new Host(config);
    for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await lan.destroy();
    await removeAccount(owner.name);
  }
}

await ensureHost(hostConfigFromEnv(), () => undefined);
await rm(WORK, { recursive: true, force: true });
await mkdir(WORK, { recursive: true });
await startPostgres();
try {
  const api = await startTestApi();
  await apiOnly(api);
  await api.close();
  // BENCH_API_ONLY=1 skips the part that boots machines.
  if (!process.env.BENCH_API_ONLY) {
    const umlApi = await startTestApi();
    await withMachines(umlApi, await umlApi.app.start(0));
    await umlApi.close();
  }
} finally {
  await stopPostgres();
}
console.table(results);
await mkdir("test-artifacts", { recursive: true });
await writeFile("test-artifacts/bench.json", `${JSON.stringify(results, null, 2)}\n`);
process.exit(0);
