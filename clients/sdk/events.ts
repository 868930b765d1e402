import {
  ImageEventsDocument,
  type ImageEventsSubscription,
  type MachineEventFieldsFragment,
  MachineEventsDocument,
} from "./generated.js";
import { ApiError, type Endpoint } from "./request.js";

export type MachineEvent = MachineEventFieldsFragment;
export type ImageEvent = ImageEventsSubscription["imageEvents"];

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
 * A subscription whose items carry a `cursor`, as an async iterator over graphql-ws:
 * a dropped connection is resumed from the last cursor seen, so the caller never sees
 * a gap or a repeat. GraphQL errors (no such thing, not yours) end it with an ApiError.
 */
async function* resumable<T extends { cursor: string }>(
  endpoint: Endpoint,
  query: string,
  variables: (after: string | undefined) => Record<string, unknown>,
  pick: (data: Record<string, unknown> | undefined) => T | undefined,
  after?: string,
): AsyncGenerator<T> {
  let cursor = after;
  // Loaded on the first subscription: a one-shot command (gaol ls) never pays for it.
  const { createClient } = await import("graphql-ws");
  for (let attempt = 0; ; attempt++) {
    const client = createClient({
      url: websocketUrl(endpoint),
      webSocketImpl: endpoint.webSocket,
      connectionParams: endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {},
      retryAttempts: 0,
    });
    try {
      for await (const result of client.iterate({ query, variables: variables(cursor) })) {
        if (result.errors?.length) throw new ApiError(result.errors.map((e) => e.message).join("; "));
        const item = pick(result.data as Record<string, unknown> | undefined);
        if (!item) continue;
        cursor = item.cursor;
        attempt = 0;
        yield item;
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

/** A machine's events, the stored backlog then live, resumed by cursor across dropped connections. */
export function machineEvents(endpoint: Endpoint, machineId: string, after?: string): AsyncGenerator<MachineEvent> {
  return resumable(
    endpoint,
    MachineEventsDocument.toString(),
    (cursor) => ({ machineId, after: cursor }),
    (data) => data?.machineEvents as MachineEvent | undefined,
    after,
  );
}

/** An image's sync events (requested, progress, built, failed), backlog then live, resumed by cursor. */
export function imageEvents(endpoint: Endpoint, name: string, after?: string): AsyncGenerator<ImageEvent> {
  return resumable(
    endpoint,
    ImageEventsDocument.toString(),
    (cursor) => ({ name, after: cursor }),
    (data) => data?.imageEvents as ImageEvent | undefined,
    after,
  );
}
