import type { Db } from "../db/client.js";
import type { Notifier } from "../db/notify.js";
import { viewerByToken } from "../db/queries/users.js";
import type { Context } from "../schema/index.js";

/**
 * Builds the per-request context from an `Authorization: Bearer …` value; one
 * function for HTTP headers and graphql-ws connectionParams, so auth is written once.
 * A missing or unknown token gives no viewer, and every field then refuses.
 */
export async function contextFor(deps: { db: Db; notifier: Notifier }, authorization: unknown): Promise<Context> {
  const token = typeof authorization === "string" ? /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] : undefined;
  const viewer = token ? await viewerByToken(deps.db, token) : undefined;
  return viewer ? { ...deps, viewer } : { ...deps };
}
