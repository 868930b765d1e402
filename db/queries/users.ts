import { eq } from "drizzle-orm";
import type { Db, Queryable } from "../client.js";
import { hosts, users } from "../schema.js";

export type User = typeof users.$inferSelect;
export type Role = User["role"];

export async function userByName(db: Queryable, name: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(eq(users.name, name));
  return row;
}

export async function userById(db: Db, id: string): Promise<User | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id));
  return row;
}

/** Creates the user if missing (an AGENT also gets its host record); updates role and host account if given. */
export async function ensureUser(
  db: Queryable,
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
