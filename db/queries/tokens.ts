import { createHash } from "node:crypto";
import { and, desc, eq, getTableColumns, isNotNull, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import { newToken, shownPrefix, type TokenRefusal, tokenShape } from "../../core/index.js";
import type { Queryable } from "../client.js";
import { apiTokens, hosts, users } from "../schema.js";
import type { User } from "./users.js";

/** A token as it is listed: its user, and never its hash. */
export type Token = Omit<typeof apiTokens.$inferSelect, "hash"> & { user: User };

/** Whom a bearer token speaks for: its user, its own id and, for an agent, its host. */
export interface TokenViewer {
  user: User;
  tokenId: string;
  hostId?: string;
}

/** lastUsedAt is this coarse, so a busy token writes once a minute and not once a request. */
const TOUCH_SECONDS = 60;

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

const { hash: _hash, ...listed } = getTableColumns(apiTokens);
const expired = and(isNotNull(apiTokens.expiresAt), lte(apiTokens.expiresAt, sql`now()`)) as SQL;
const stale = or(
  isNull(apiTokens.lastUsedAt),
  lt(apiTokens.lastUsedAt, sql`now() - make_interval(secs => ${TOUCH_SECONDS})`),
) as SQL;

/**
 * The viewer of a bearer token that is neither revoked nor expired, or why there is none: one
 * query, as every request asks. A token whose shape or checksum is wrong is refused before any lookup.
 */
export async function authenticate(db: Queryable, token: string): Promise<TokenViewer | { refused: TokenRefusal }> {
  if (!tokenShape(token)) return { refused: { kind: "malformed" } };
  const [row] = await db
    .select({
      user: users,
      hostId: hosts.id,
      tokenId: apiTokens.id,
      prefix: apiTokens.prefix,
      revokedAt: apiTokens.revokedAt,
      expiresAt: apiTokens.expiresAt,
      expired: sql<boolean>`${expired}`,
      stale,
    })
    .from(apiTokens)
    .innerJoin(users, eq(apiTokens.userId, users.id))
    .leftJoin(hosts, and(eq(hosts.agentUserId, users.id), eq(users.role, "AGENT")))
    .where(eq(apiTokens.hash, hashToken(token)));
  if (!row) return { refused: { kind: "unknown" } };
  if (row.revokedAt) return { refused: { kind: "revoked", at: row.revokedAt } };
  // The database's clock decides, as it does for every replica.
  if (row.expired && row.expiresAt) return { refused: { kind: "expired", at: row.expiresAt } };
  if (row.stale) {
    // The condition again in the update: replicas racing on one token write it once.
    await db
      .update(apiTokens)
      .set({ lastUsedAt: sql`now()`, prefix: row.prefix ?? shownPrefix(token) })
      .where(and(eq(apiTokens.id, row.tokenId), stale));
  }
  return { user: row.user, tokenId: row.tokenId, hostId: row.hostId ?? undefined };
}

/** The viewer of a usable bearer token, or undefined. */
export async function viewerByToken(db: Queryable, token: string): Promise<TokenViewer | undefined> {
  const found = await authenticate(db, token);
  return "refused" in found ? undefined : found;
}

/** The user a usable bearer token belongs to, or undefined. */
export async function userByToken(db: Queryable, token: string): Promise<User | undefined> {
  return (await viewerByToken(db, token))?.user;
}

/** A new bearer token for the user; only its hash is stored, so `secret` is seen this once. */
export async function createToken(
  db: Queryable,
  userId: string,
  options: { expiresInSeconds?: number | null } = {},
): Promise<{ secret: string; token: Token }> {
  const secret = newToken();
  const expiresAt = options.expiresInSeconds ? sql`now() + make_interval(secs => ${options.expiresInSeconds})` : null;
  const [row] = await db
    .insert(apiTokens)
    .values({ userId, hash: hashToken(secret), prefix: shownPrefix(secret), expiresAt })
    .returning({ id: apiTokens.id });
  return { secret, token: (await tokenById(db, row?.id as string)) as Token };
}

function selectTokens(db: Queryable) {
  return db
    .select({ ...listed, user: users })
    .from(apiTokens)
    .innerJoin(users, eq(apiTokens.userId, users.id));
}

export async function tokenById(db: Queryable, id: string): Promise<Token | undefined> {
  const [row] = await selectTokens(db).where(eq(apiTokens.id, id));
  return row;
}

/** Every token (or one user's), newest first. */
export async function listTokens(db: Queryable, filter: { userId?: string } = {}): Promise<Token[]> {
  return selectTokens(db)
    .where(filter.userId ? eq(apiTokens.userId, filter.userId) : undefined)
    .orderBy(desc(apiTokens.createdAt), desc(apiTokens.id));
}

/** Revokes a token at once; a revoked token keeps its first revokedAt. */
export async function markRevoked(db: Queryable, id: string): Promise<Token | undefined> {
  const [row] = await db
    .update(apiTokens)
    .set({ revokedAt: sql`coalesce(${apiTokens.revokedAt}, now())` })
    .where(eq(apiTokens.id, id))
    .returning({ id: apiTokens.id });
  return row && tokenById(db, row.id);
}
