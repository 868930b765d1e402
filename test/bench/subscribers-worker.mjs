// A thousand graphql-ws subscribers in a thread of their own, so that the clients'
// work does not slow the api they measure (both would share one event loop otherwise).
import { parentPort, workerData } from "node:worker_threads";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

// Plain JavaScript: a worker thread does not inherit tsx's loader.
// Lines `${prefix}warm…` come first and are not measured: once every subscriber has had one,
// all of them are live (graphql-ws says "connected", not "subscribed"), and it says { warm: true }.
const { url, token, machineId, after, subscribers, prefix, lines } = workerData;
let warmed = 0;

const latencies = [];
/** Each measured line's latencies, by line number (from 1). */
const byLine = Array.from({ length: lines }, () => []);
const clients = Array.from({ length: subscribers }, () =>
  createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  }),
);
let subscribed = 0;
const done = clients.map(
  (client) =>
    new Promise((resolve) => {
      let seen = 0;
      let warm = false;
      client.subscribe(
        {
          query: `subscription ($id: ID!, $after: String) { machineEvents(machineId: $id, after: $after) { at ... on ConsoleOutput { text } } }`,
          variables: { id: machineId, after },
        },
        {
          next: ({ data }) => {
            const event = data?.machineEvents;
            if (!event?.text?.startsWith(prefix)) return;
            if (event.text.startsWith(`${prefix}warm`)) {
              if (!warm && ++warmed === subscribers) parentPort?.postMessage({ warm: true });
              warm = true;
              return;
            }
            const ms = Date.now() - Date.parse(event.at);
            latencies.push(ms);
            byLine[Number(event.text.slice(prefix.length)) - 1]?.push(ms);
            if (++seen >= lines) resolve();
          },
          error: () => resolve(),
          complete: () => resolve(),
        },
      );
      client.on("connected", () => {
        if (++subscribed === subscribers) parentPort?.postMessage({ ready: true });
      });
    }),
);
await Promise.race([Promise.all(done), new Promise((r) => setTimeout(r, 60_000))]);
await Promise.all(clients.map((c) => c.dispose()));
parentPort?.postMessage({ latencies, byLine });
