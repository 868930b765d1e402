import { createClient } from "graphql-ws";
import WebSocket from "ws";
import type { Endpoint } from "./request.js";

export interface MachineEvent {
  __typename: string;
  cursor: string;
  at: string;
  state?: string;
  reason?: string | null;
  lastConsoleLines?: string[];
  text?: string;
  stage?: string;
  uptimeSeconds?: number | null;
  ip?: string;
  mac?: string;
  path?: string;
  port?: number;
  hostKeys?: Array<{ type: string; fingerprintSha256: string; publicKey: string }>;
}

const EVENTS = `subscription ($id: ID!, $after: String) {
  machineEvents(machineId: $id, after: $after) {
    __typename cursor at
    ... on MachineStateChanged { state reason lastConsoleLines }
    ... on ConsoleOutput { text }
    ... on BootStageReached { stage uptimeSeconds }
    ... on DhcpLeaseAcquired { ip mac }
    ... on HomeMounted { path }
    ... on SshReady { ip port hostKeys { type fingerprintSha256 publicKey } }
  }
}`;

/**
 * A machine's events as an async iterator over graphql-ws. A dropped
 * connection is resumed from the last cursor seen, so the caller never sees
 * a gap or a repeat.
 */
export async function* machineEvents(
  endpoint: Endpoint,
  machineId: string,
  after?: string,
): AsyncGenerator<MachineEvent> {
  let cursor = after;
  for (let attempt = 0; ; attempt++) {
    const client = createClient({
      url: endpoint.url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      connectionParams: endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {},
      retryAttempts: 0,
    });
    try {
      for await (const result of client.iterate<{ machineEvents: MachineEvent }>({
        query: EVENTS,
        variables: { id: machineId, after: cursor },
      })) {
        if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join("; "));
        const event = result.data?.machineEvents;
        if (!event) continue;
        cursor = event.cursor;
        attempt = 0;
        yield event;
      }
      return;
    } catch (error) {
      // GraphQL errors (not yours, no such machine) are final; a lost connection is retried.
      if (Array.isArray(error) || (error instanceof Error && !/socket|closed|ECONN|1006/i.test(error.message))) {
        throw Array.isArray(error) ? new Error(error.map((e: { message: string }) => e.message).join("; ")) : error;
      }
      if (attempt >= 8) throw new Error(`lost the connection to ${endpoint.url}`);
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)));
    } finally {
      await client.dispose();
    }
  }
}
