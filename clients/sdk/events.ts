import { createClient } from "graphql-ws";
import { type MachineEventFieldsFragment, MachineEventsDocument } from "./generated.js";
import { ApiError, type Endpoint } from "./request.js";

export type MachineEvent = MachineEventFieldsFragment;

const RETRIES = 8;

export function websocketUrl(endpoint: Endpoint): string {
  return endpoint.url.replace(/^http/, "ws");
}

/** graphql-ws's own close codes 4400–4499 (unauthorized, forbidden, bad request) will not heal by retrying. */
function isFinal(error: unknown): boolean {
  if (Array.isArray(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && code >= 4400 && code < 4500;
}

function describeFailure(error: unknown): string {
  if (Array.isArray(error)) return error.map((e: { message?: string }) => e.message).join("; ");
  const { reason, code, message } = (error ?? {}) as { reason?: string; code?: number; message?: string };
  return message ?? (reason || `the connection closed (${code})`);
}

/**
 * A machine's events as an async iterator over graphql-ws: the stored backlog, then live.
 * A dropped connection is resumed from the last cursor seen, so the caller never sees
 * a gap or a repeat. GraphQL errors (no such machine, not yours) end it with an ApiError.
 */
export async function* machineEvents(
  endpoint: Endpoint,
  machineId: string,
  after?: string,
): AsyncGenerator<MachineEvent> {
  let cursor = after;
  for (let attempt = 0; ; attempt++) {
    const client = createClient({
      url: websocketUrl(endpoint),
      webSocketImpl: endpoint.webSocket,
      connectionParams: endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {},
      retryAttempts: 0,
    });
    try {
      const results = client.iterate({
        query: MachineEventsDocument.toString(),
        variables: { machineId, after: cursor },
      });
      for await (const result of results) {
        if (result.errors?.length) throw new ApiError(result.errors.map((e) => e.message).join("; "));
        const event = (result.data as { machineEvents?: MachineEvent } | undefined)?.machineEvents;
        if (!event) continue;
        cursor = event.cursor;
        attempt = 0;
        yield event;
      }
      return;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (isFinal(error)) throw new ApiError(describeFailure(error));
      if (attempt >= RETRIES) throw new ApiError(`lost the connection to ${endpoint.url}: ${describeFailure(error)}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(200 * 2 ** attempt, 5000)));
    } finally {
      await client.dispose();
    }
  }
}
