import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, execute, GraphQLError } from "graphql";
import type { Context } from "../schema/context.js";

/** Results by event object, then by viewer and operation: a thousand watchers of one machine cost one execution. */
const shared = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

/** Who asks and what, minus the resume cursor: subscribers with equal keys get equal results for an event. */
function shareKey(args: ExecutionArgs, query: string): string {
  const viewer = (args.contextValue as Context | undefined)?.viewer;
  const { after: _after, ...variables } = (args.variableValues ?? {}) as Record<string, unknown>;
  return JSON.stringify([viewer?.user.id ?? "", viewer?.hostId ?? "", query, args.operationName ?? "", variables]);
}

/**
 * A subscription whose events are executed once per viewer and operation. Event
 * streams hand every caught-up subscriber the same event objects (db/notify.ts),
 * so the execution, the scope checks and the resolvers run once, not per socket.
 */
export async function subscribeShared(args: ExecutionArgs, query: string) {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in stream)) return stream;
  const key = shareKey(args, query);
  const source = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const resultFor = (payload: unknown): Promise<ExecutionResult> => {
    if (payload === null || typeof payload !== "object") return run(args, payload);
    let byKey = shared.get(payload);
    if (!byKey) {
      byKey = new Map();
      shared.set(payload, byKey);
    }
    let result = byKey.get(key);
    if (!result) {
      result = run(args, payload);
      byKey.set(key, result);
    }
    return result;
  };
  // A plain iterator, not an async generator: a thousand subscribers take each event through
  // it at once, and every generator step is a few more promise turns for each of them.
  const results: AsyncIterableIterator<ExecutionResult> = {
    [Symbol.asyncIterator]: () => results,
    next: async () => {
      const step = await source.next();
      return step.done ? { done: true, value: undefined } : { done: false, value: await resultFor(step.value) };
    },
    return: async () => {
      await source.return?.();
      return { done: true, value: undefined };
    },
    throw: async (error: unknown) => {
      await source.return?.();
      throw error;
    },
  };
  return results;
}

/**
 * One event through graphql-js's own execute (envelop's would start a subscription for a
 * subscription document); errors that are not GraphQLErrors are masked as yoga masks them.
 */
async function run(args: ExecutionArgs, payload: unknown): Promise<ExecutionResult> {
  const result = await execute({ ...args, rootValue: payload });
  if (!result.errors) return result;
  const errors = result.errors.map((error) =>
    error.originalError && !(error.originalError instanceof GraphQLError)
      ? new GraphQLError("Unexpected error.", { nodes: error.nodes, path: error.path })
      : error,
  );
  return { ...result, errors };
}
