import type { RateLimiter } from "../core/index.js";
import type { Db } from "../db/client.js";
import { viewerByToken } from "../db/queries/tokens.js";
import type { Notifier } from "../live/index.js";
import type { Context } from "../schema/index.js";

type Deps = { db: Db; notifier: Notifier; rateLimiter: RateLimiter };
type Viewer = Context["viewer"];

/**
 * Builds the per-request context from an `Authorization: Bearer …` value; one
 * function for HTTP headers and graphql-ws connectionParams, so auth is written once.
 * A missing, unknown, expired or revoked token gives no viewer, and every field then refuses.
 */
export async function contextFor(deps: Deps, authorization: unknown): Promise<Context> {
  return withViewer(deps, await viewerFor(deps.db, authorization));
}

function withViewer(deps: Deps, viewer: Viewer): Context {
  return viewer ? { ...deps, viewer } : { ...deps };
}

async function viewerFor(db: Db, authorization: unknown): Promise<Viewer> {
  const token = typeof authorization === "string" ? /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] : undefined;
  return token ? await viewerByToken(db, token) : undefined;
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
  const viewers = new WeakMap<object, { at: number; viewer: Promise<Viewer> }>();
  return async (connectionParams: Record<string, unknown>): Promise<Context> => {
    let cached = viewers.get(connectionParams);
    if (!cached || Date.now() - cached.at > CONNECTION_VIEWER_MS) {
      cached = { at: Date.now(), viewer: viewerFor(deps.db, connectionParams.authorization) };
      viewers.set(connectionParams, cached);
    }
    return withViewer(deps, await cached.viewer);
  };
}
