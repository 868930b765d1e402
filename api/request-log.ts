import { randomUUID } from "node:crypto";
import type { DefinitionNode, ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Log } from "../core/index.js";
import type { Context } from "../schema/index.js";

/** What a caller's X-Request-Id may be to be used as given (HAProxy's unique-id is such). */
const GIVEN_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = "x-request-id";

/** The id of an HTTP request: the balancer's or the client's when it is well formed, else a new one. */
export function requestIdOf(request: Request): string {
  const given = request.headers.get(REQUEST_ID_HEADER);
  return given && GIVEN_ID.test(given) ? given : randomUUID();
}

/**
 * Request ids and the operations log: every HTTP response carries its request's id, and one line
 * is logged per mutation and per operation that ended in errors (queries that went well are too
 * many to log), with the request id, the operation, who asked, how long it took and the outcome.
 */
export function requestLogPlugin(log: Log): Plugin<Record<string, unknown>, Context> {
  const ids = new WeakMap<Request, string>();
  const idOf = (request: Request | undefined) => {
    if (!request) return randomUUID();
    const id = ids.get(request) ?? requestIdOf(request);
    ids.set(request, id);
    return id;
  };
  return {
    onRequest({ request }) {
      idOf(request);
    },
    onExecute({ args }) {
      const started = performance.now();
      const context = args.contextValue as unknown as Context & { request?: Request };
      const operation = args.document.definitions.find((d: DefinitionNode) => d.kind === "OperationDefinition");
      const kind = operation && "operation" in operation ? operation.operation : "query";
      const name = args.operationName ?? (operation && "name" in operation ? operation.name?.value : undefined);
      return {
        onExecuteDone({ result }) {
          // A stream (subscription or @defer) is logged by its errors only when it starts.
          const single = result as ExecutionResult;
          const errors = "errors" in single ? (single.errors?.length ?? 0) : 0;
          if (kind !== "mutation" && errors === 0) return;
          log(`${kind} ${name ?? "(anonymous)"} ${errors > 0 ? `failed: ${single.errors?.[0]?.message}` : "done"}`, {
            requestId: idOf(context.request),
            user: context.viewer?.user.name,
            ms: Math.round(performance.now() - started),
            level: errors > 0 ? "warn" : "info",
          });
        },
      };
    },
    onResponse({ request, response }) {
      response.headers.set(REQUEST_ID_HEADER, idOf(request));
    },
  };
}
