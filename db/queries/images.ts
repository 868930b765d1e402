import { asc, eq } from "drizzle-orm";
import type { Db } from "../client.js";
import { images, imageVersions } from "../schema.js";

export type Image = typeof images.$inferSelect;

export async function ensureImage(db: Db, name: string, description?: string): Promise<Image> {
  await db.insert(images).values({ name, description }).onConflictDoNothing();
  const [image] = await db.select().from(images).where(eq(images.name, name));
  return image as Image;
}

export async function listImages(db: Db): Promise<Image[]> {
  return db.select().from(images).orderBy(asc(images.name));
}

export async function imageById(db: Db, id: string): Promise<Image | undefined> {
  const [image] = await db.select().from(images).where(eq(images.id, id));
  return image;
}

export async function versionsOf(db: Db, imageId: string) {
  return db.select().from(imageVersions).where(eq(imageVersions.imageId, imageId)).orderBy(asc(imageVersions.version));
}
