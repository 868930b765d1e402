import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, execute, GraphQLError } from "graphql";
import { isLiveStream, type LiveStream } from "./live-stream.js";

/** Payloads by event object, then by viewer and operation: a thousand watchers of one machine cost one execution. */
const shared = new WeakMap<object, Map<string, string | Promise<string>>>();

/** Whose results a payload is (the schema's viewer has these): scope checks differ by user and host. */
export interface SharedViewer {
  user: { id: string };
  hostId?: string;
}

/** Who asks and what, minus the resume cursor: subscribers with equal keys get equal results for an event. */
function shareKey(args: ExecutionArgs, query: string, viewer: SharedViewer | undefined): string {
  const { after: _after, ...variables } = (args.variableValues ?? {}) as Record<string, unknown>;
  return JSON.stringify([viewer?.user.id ?? "", viewer?.hostId ?? "", query, args.operationName ?? "", variables]);
}

/** A subscription's source events, and each one's result as the JSON of a "next" message's payload. */
export interface SharedSubscription {
  events: AsyncIterator<unknown>;
  /** The source's synchronous hand-over once caught up, when it is a LiveStream (machine events are). */
  follow?: LiveStream<unknown>["follow"];
  /** Synchronous when the event's resolvers are (event fields are): the subscriber writes it in the same turn. */
  payload(event: unknown): string | Promise<string>;
}

/**
 * A subscription whose events are executed and serialized once per viewer and operation.
 * Event streams hand every caught-up subscriber the same event objects (notifier.ts),
 * so the execution, the scope checks, the resolvers and JSON.stringify run once, not per socket.
 */
export async function subscribeShared(
  args: ExecutionArgs,
  query: string,
  viewer: SharedViewer | undefined,
): Promise<SharedSubscription | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in stream)) return stream;
  const key = shareKey(args, query, viewer);
  const events = stream[Symbol.asyncIterator]();
  return {
    events,
    follow: isLiveStream(events) ? events.follow.bind(events) : undefined,
    payload(event) {
      if (event === null || typeof event !== "object") return payloadOf(args, event);
      let byKey = shared.get(event);
      if (!byKey) {
        byKey = new Map();
        shared.set(event, byKey);
      }
      let payload = byKey.get(key);
      if (payload === undefined) {
        payload = payloadOf(args, event);
        byKey.set(key, payload);
      }
      return payload;
    },
  };
}

/**
 * One event through graphql-js's own execute (envelop's would start a subscription for a
 * subscription document), as JSON; errors that are not GraphQLErrors are masked as yoga masks them.
 */
function payloadOf(args: ExecutionArgs, event: unknown): string | Promise<string> {
  const result = execute({ ...args, rootValue: event });
  return result instanceof Promise ? result.then(serialize) : serialize(result);
}

function serialize(result: ExecutionResult): string {
  if (!result.errors) return JSON.stringify(result);
  const errors = result.errors.map((error) =>
    error.originalError && !(error.originalError instanceof GraphQLError)
      ? new GraphQLError("Unexpected error.", { nodes: error.nodes, path: error.path })
      : error,
  );
  return JSON.stringify({ ...result, errors });
}
