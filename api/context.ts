import { refusalAdvice } from "../core/index.js";
import type { Db } from "../db/client.js";
import { staffCourseIds } from "../db/queries/courses.js";
import { authenticate } from "../db/queries/tokens.js";
import type { Context } from "../schema/index.js";

type Deps = Pick<Context, "db" | "notifier" | "rateLimiter" | "observeEvents">;
/** The viewer, or why the token let no one in. */
type Auth = Pick<Context, "viewer" | "refusal">;

/**
 * Builds the per-request context from an `Authorization: Bearer …` value; one
 * function for HTTP headers and graphql-ws connectionParams, so auth is written once.
 * A missing, unknown, expired or revoked token gives no viewer, and every field then refuses,
 * saying why.
 */
export async function contextFor(deps: Deps, authorization: unknown): Promise<Context> {
  return { ...deps, ...(await authFor(deps.db, authorization)) };
}

async function authFor(db: Db, authorization: unknown): Promise<Auth> {
  const token = typeof authorization === "string" ? /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] : undefined;
  const found = token ? await authenticate(db, token) : { refused: { kind: "missing" as const } };
  if ("refused" in found) return { refusal: refusalAdvice(found.refused) };
  if (found.user.role === "AGENT") return { viewer: found };
  return { viewer: { ...found, staffCourses: new Set(await staffCourseIds(db, found.user.id)) } };
}

/** How long a graphql-ws connection's viewer is reused before it is looked up again. */
const CONNECTION_VIEWER_MS = 1000;

/**
 * Contexts for the operations of graphql-ws connections, keyed by each connection's own
 * connectionParams: an agent reports every console line as an operation on one connection,
 * and its token's lookup was a round trip of every report. A fresh context each time (loaders
 * and caches stay per operation); the viewer is read again after a second (roles, quotas).
 */
export function connectionContexts(deps: Deps) {
  const viewers = new WeakMap<object, { at: number; auth: Promise<Auth> }>();
  return async (connectionParams: Record<string, unknown>): Promise<Context> => {
    let cached = viewers.get(connectionParams);
    if (!cached || Date.now() - cached.at > CONNECTION_VIEWER_MS) {
      cached = { at: Date.now(), auth: authFor(deps.db, connectionParams.authorization) };
      viewers.set(connectionParams, cached);
    }
    return { ...deps, ...(await cached.auth) };
  };
}
