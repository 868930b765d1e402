import { eq } from "drizzle-orm";
import type { Db } from "../client.js";
import { serviceKeys } from "../schema.js";

export type ServiceKey = typeof serviceKeys.$inferSelect;

export async function serviceKey(db: Db, name: string): Promise<ServiceKey | undefined> {
  const [key] = await db.select().from(serviceKeys).where(eq(serviceKeys.name, name));
  return key;
}

/** Stores key under name unless a replica stored one first; the key that is stored wins. */
export async function storeServiceKey(
  db: Db,
  key: Pick<ServiceKey, "name" | "privateKey" | "publicKey">,
): Promise<ServiceKey> {
  await db.insert(serviceKeys).values(key).onConflictDoNothing();
  return (await serviceKey(db, key.name)) as ServiceKey;
}

/** Overwrites the key stored under name (one that cannot be used). */
export async function replaceServiceKey(
  db: Db,
  key: Pick<ServiceKey, "name" | "privateKey" | "publicKey">,
): Promise<ServiceKey> {
  const [stored] = await db
    .update(serviceKeys)
    .set({ privateKey: key.privateKey, publicKey: key.publicKey })
    .where(eq(serviceKeys.name, key.name))
    .returning();
  return stored as ServiceKey;
}
