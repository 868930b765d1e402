import type { Db } from "../db/client.js";
import type { Notifier } from "../db/notify.js";
import { hostOfAgent } from "../db/queries/hosts.js";
import { userByToken } from "../db/queries/users.js";
import type { Context } from "../schema/index.js";

/**
 * Builds the per-request context from an `Authorization: Bearer …` value; one
 * function for HTTP headers and graphql-ws connectionParams, so auth is written once.
 * A missing or unknown token gives no viewer, and every field then refuses.
 */
export async function contextFor(deps: { db: Db; notifier: Notifier }, authorization: unknown): Promise<Context> {
  const token = typeof authorization === "string" ? /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] : undefined;
  const user = token ? await userByToken(deps.db, token) : undefined;
  if (!user) return { ...deps };
  const hostId = user.role === "AGENT" ? (await hostOfAgent(deps.db, user.id))?.id : undefined;
  return { ...deps, viewer: { user, hostId } };
}
