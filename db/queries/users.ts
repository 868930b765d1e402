import { createHash, randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Db } from "../client.js";
import { apiTokens, hosts, users } from "../schema.js";

export type User = typeof users.$inferSelect;
export type Role = User["role"];

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The user a bearer token belongs to, or undefined. */
export async function userByToken(db: Db, token: string): Promise<User | undefined> {
  return (await viewerByToken(db, token))?.user;
}

/** The user a bearer token belongs to and, for an agent, its host's id: one query, as every request asks. */
export async function viewerByToken(db: Db, token: string): Promise<{ user: User; hostId?: string } | undefined> {
  const [row] = await db
    .select({ user: users, hostId: hosts.id })
    .from(apiTokens)
    .innerJoin(users, eq(apiTokens.userId, users.id))
    .leftJoin(hosts, and(eq(hosts.agentUserId, users.id), eq(users.role, "AGENT")))
    .where(eq(apiTokens.hash, hashToken(token)));
  return row && { user: row.user, hostId: row.hostId ?? undefined };
}

async function userByName(db: Db, name: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(eq(users.name, name));
  return row;
}

export async function userById(db: Db, id: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id));
  return row;
}

/** Creates the user if missing (an AGENT also gets its host record); updates role and host account if given. */
export async function ensureUser(
  db: Db,
  input: { name: string; role?: Role; hostUser?: string | null },
): Promise<User> {
  const existing = await userByName(db, input.name);
  let user: User;
  if (existing) {
    const [updated] = await db
      .update(users)
      .set({ role: input.role ?? existing.role, hostUser: input.hostUser ?? existing.hostUser })
      .where(eq(users.id, existing.id))
      .returning();
    user = updated as User;
  } else {
    const [created] = await db
      .insert(users)
      .values({ name: input.name, role: input.role ?? "USER", hostUser: input.hostUser ?? null })
      .returning();
    user = created as User;
  }
  if (user.role === "AGENT") {
    await db.insert(hosts).values({ name: user.name, agentUserId: user.id }).onConflictDoNothing();
  }
  return user;
}

/** A new random bearer token for the user; only its hash is stored, so this is the one time it is seen. */
export async function createToken(db: Db, userId: string): Promise<string> {
  const token = `gaol_${randomBytes(32).toString("base64url")}`;
  await db.insert(apiTokens).values({ userId, hash: hashToken(token) });
  return token;
}
