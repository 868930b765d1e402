import { and, asc, count, desc, eq, gt, inArray, isNotNull, lt, ne, notExists, notInArray, sql } from "drizzle-orm";
import { type ImageEvent, isUuid } from "../../core/index.js";
import type { Db, Queryable, Tx } from "../client.js";
import { hostImages, hosts, imageEvents, imageSyncs, images, imageVersions, machines } from "../schema.js";

export type Image = typeof images.$inferSelect;
export type ImageSync = typeof imageSyncs.$inferSelect;
export type StoredImageEvent = typeof imageEvents.$inferSelect;

export const IMAGES_CHANNEL = "gaol_images";

export async function ensureImage(db: Db, name: string, description?: string): Promise<Image> {
  await db.insert(images).values({ name, description }).onConflictDoNothing();
  const [image] = await db.select().from(images).where(eq(images.name, name));
  return image as Image;
}

export async function listImages(db: Queryable): Promise<Image[]> {
  return db.select().from(images).orderBy(asc(images.name));
}

export async function imageById(db: Queryable, id: string): Promise<Image | undefined> {
  const [image] = await db.select().from(images).where(eq(images.id, id));
  return image;
}

export async function imageByName(db: Queryable, name: string): Promise<Image | undefined> {
  const [image] = await db.select().from(images).where(eq(images.name, name));
  return image;
}

/** Built versions, oldest first, with how many live machines run each and on how many hosts it is. */
export async function versionsOf(db: Queryable, imageId: string) {
  const rows = await db
    .select()
    .from(imageVersions)
    .where(eq(imageVersions.imageId, imageId))
    .orderBy(asc(imageVersions.version));
  const users = await db
    .select({ version: machines.imageVersion, machines: count() })
    .from(machines)
    .where(and(eq(machines.imageId, imageId), ne(machines.state, "DESTROYED")))
    .groupBy(machines.imageVersion);
  const held = await db
    .select({ version: hostImages.version, hosts: count() })
    .from(hostImages)
    .where(eq(hostImages.imageId, imageId))
    .groupBy(hostImages.version);
  return rows.map((row) => ({
    ...row,
    machineCount: users.find((u) => u.version === row.version)?.machines ?? 0,
    hostCount: held.find((h) => h.version === row.version)?.hosts ?? 0,
  }));
}

/** The version new machines get: the newest one some host has built. */
export async function defaultVersion(db: Queryable, imageId: string): Promise<number | undefined> {
  const [row] = await db
    .select({ version: imageVersions.version })
    .from(imageVersions)
    .where(eq(imageVersions.imageId, imageId))
    .orderBy(desc(imageVersions.version))
    .limit(1);
  return row?.version;
}

/** Appends one image event (the image row orders appends) and wakes imageEvents subscribers. */
async function appendImageEvent(tx: Queryable, imageId: string, event: ImageEvent): Promise<void> {
  const [image] = await tx
    .update(images)
    .set({ lastEventSeq: sql`${images.lastEventSeq} + 1` })
    .where(eq(images.id, imageId))
    .returning({ seq: images.lastEventSeq });
  if (!image) throw new Error(`image ${imageId} does not exist`);
  await tx
    .insert(imageEvents)
    .values({ imageId, seq: image.seq, kind: event.kind, payload: event.payload as Record<string, unknown> });
  await tx.execute(sql`select pg_notify(${IMAGES_CHANNEL}, ${imageId})`);
}

export async function imageEventsAfter(db: Queryable, imageId: string, afterSeq: number, limit = 500) {
  return db
    .select()
    .from(imageEvents)
    .where(and(eq(imageEvents.imageId, imageId), gt(imageEvents.seq, afterSeq)))
    .orderBy(asc(imageEvents.seq))
    .limit(limit);
}

/**
 * A sync of image `name` from `source`, numbered with the image's next version; creates
 * the image when it is new and remembers the source (and interval, for scheduled syncs).
 * In the caller's transaction: the image's row lock orders the numbering.
 */
export async function requestImageSync(
  tx: Tx,
  input: { name: string; source: string; intervalSeconds?: number | null },
): Promise<{ image: Image; sync: ImageSync }> {
  await tx.insert(images).values({ name: input.name }).onConflictDoNothing();
  const [locked] = await tx.select().from(images).where(eq(images.name, input.name)).for("update");
  const image = locked as Image;
  const [updated] = await tx
    .update(images)
    .set({
      source: input.source,
      ...(input.intervalSeconds !== undefined ? { syncIntervalSeconds: input.intervalSeconds } : {}),
    })
    .where(eq(images.id, image.id))
    .returning();
  const version = await nextVersion(tx, image.id);
  const [sync] = await tx.insert(imageSyncs).values({ imageId: image.id, source: input.source, version }).returning();
  await appendImageEvent(tx, image.id, { kind: "ImageSyncRequested", payload: { version, source: input.source } });
  return { image: updated as Image, sync: sync as ImageSync };
}

async function nextVersion(tx: Tx, imageId: string): Promise<number> {
  const [built] = await tx
    .select({ v: sql<number>`coalesce(max(${imageVersions.version}), 0)` })
    .from(imageVersions)
    .where(eq(imageVersions.imageId, imageId));
  const [asked] = await tx
    .select({ v: sql<number>`coalesce(max(${imageSyncs.version}), 0)` })
    .from(imageSyncs)
    .where(eq(imageSyncs.imageId, imageId));
  return Math.max(Number(built?.v ?? 0), Number(asked?.v ?? 0)) + 1;
}

/** Scheduled syncs that are due get a new sync request (one pending at a time per image). */
export async function requestDueSyncs(db: Db): Promise<void> {
  const due = await db
    .select()
    .from(images)
    .where(
      and(
        isNotNull(images.source),
        isNotNull(images.syncIntervalSeconds),
        sql`coalesce(${images.lastSyncedAt}, 'epoch'::timestamptz) < now() - make_interval(secs => ${images.syncIntervalSeconds})`,
        notExists(
          db
            .select({ id: imageSyncs.id })
            .from(imageSyncs)
            .where(and(eq(imageSyncs.imageId, images.id), eq(imageSyncs.state, "PENDING"))),
        ),
      ),
    );
  for (const image of due) {
    await db.transaction((tx) => requestImageSync(tx, { name: image.name, source: image.source as string }));
  }
}

/**
 * The syncs a host still has to run: each image's newest sync that has not failed, when
 * the host does not hold its version yet — also after other hosts built it, so every
 * host (one that joins later too) keeps its copy current.
 */
export async function pendingSyncsForHost(db: Queryable, hostId: string) {
  const newest = db
    .select({ v: sql`max(${imageSyncs.version})` })
    .from(imageSyncs)
    .where(and(eq(imageSyncs.imageId, images.id), ne(imageSyncs.state, "FAILED")));
  return db
    .select({ sync: imageSyncs, image: images })
    .from(imageSyncs)
    .innerJoin(images, eq(images.id, imageSyncs.imageId))
    .where(
      and(
        ne(imageSyncs.state, "FAILED"),
        sql`${imageSyncs.version} = (${newest})`,
        notExists(
          db
            .select({ v: hostImages.version })
            .from(hostImages)
            .where(
              and(
                eq(hostImages.hostId, hostId),
                eq(hostImages.imageId, imageSyncs.imageId),
                eq(hostImages.version, imageSyncs.version),
              ),
            ),
        ),
      ),
    )
    .orderBy(asc(imageSyncs.createdAt));
}

export async function syncById(db: Queryable, id: string): Promise<ImageSync | undefined> {
  if (!isUuid(id)) return undefined;
  const [sync] = await db.select().from(imageSyncs).where(eq(imageSyncs.id, id));
  return sync;
}

/** A host holds a built version: recorded for placement, and the image's versions gain it. */
async function recordHostImage(
  db: Db,
  hostId: string,
  image: Image,
  built: { version: number; sizeBytes?: number | null; source?: string | null },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [added] = await tx
      .insert(hostImages)
      .values({ hostId, imageId: image.id, version: built.version })
      .onConflictDoNothing()
      .returning();
    await tx
      .insert(imageVersions)
      .values({ imageId: image.id, version: built.version, sizeBytes: built.sizeBytes, source: built.source })
      .onConflictDoNothing();
    return added !== undefined;
  });
}

/** An agent's word on a sync: progress, success (the version is built there) or failure. */
export async function reportSync(
  db: Db,
  host: { id: string; name: string },
  sync: ImageSync,
  report: {
    phase?: string;
    bytes?: number;
    percent?: number;
    files?: number;
    sizeBytes?: number;
    error?: string;
    done?: boolean;
  },
): Promise<void> {
  const image = (await imageById(db, sync.imageId)) as Image;
  const { version } = sync;
  if (report.error !== undefined) {
    await db.transaction(async (tx) => {
      await tx
        .update(imageSyncs)
        .set({ state: "FAILED", error: report.error, finishedAt: new Date() })
        .where(and(eq(imageSyncs.id, sync.id), eq(imageSyncs.state, "PENDING")));
      await appendImageEvent(tx, image.id, {
        kind: "ImageSyncFailed",
        payload: { version, host: host.name, reason: report.error as string },
      });
    });
    return;
  }
  if (report.done) {
    await recordHostImage(db, host.id, image, { version, sizeBytes: report.sizeBytes, source: sync.source });
    await db.transaction(async (tx) => {
      await tx.update(imageSyncs).set({ state: "SUCCEEDED", finishedAt: new Date() }).where(eq(imageSyncs.id, sync.id));
      await tx.update(images).set({ lastSyncedAt: new Date() }).where(eq(images.id, image.id));
      await appendImageEvent(tx, image.id, {
        kind: "ImageVersionBuilt",
        payload: { version, host: host.name, sizeBytes: report.sizeBytes },
      });
    });
    await collectVersionRows(db, image.id);
    return;
  }
  await appendImageEvent(db, image.id, {
    kind: "ImageSyncProgress",
    payload: {
      version,
      host: host.name,
      phase: report.phase ?? "transfer",
      bytes: report.bytes,
      percent: report.percent,
      files: report.files,
    },
  });
}

/**
 * Versions no live machine uses and that are older than the newest leave the catalogue
 * (hosts delete their files on their own, after a grace period).
 */
export async function collectVersionRows(db: Queryable, imageId: string): Promise<number[]> {
  const newest = await defaultVersion(db, imageId);
  if (newest === undefined) return [];
  const used = await db
    .selectDistinct({ version: machines.imageVersion })
    .from(machines)
    .where(and(eq(machines.imageId, imageId), ne(machines.state, "DESTROYED"), isNotNull(machines.imageVersion)));
  const keep = [newest, ...used.map((u) => u.version as number)];
  const gone = await db
    .delete(imageVersions)
    .where(
      and(
        eq(imageVersions.imageId, imageId),
        lt(imageVersions.version, newest),
        notInArray(imageVersions.version, keep),
      ),
    )
    .returning({ version: imageVersions.version });
  if (gone.length) {
    await db.delete(hostImages).where(
      and(
        eq(hostImages.imageId, imageId),
        inArray(
          hostImages.version,
          gone.map((g) => g.version),
        ),
      ),
    );
    for (const g of gone)
      await appendImageEvent(db, imageId, { kind: "ImageVersionCollected", payload: { version: g.version } });
  }
  return gone.map((g) => g.version);
}

/** Hosts that hold a version of an image (placement prefers them). */
export async function hostsHolding(db: Queryable, imageId: string, version: number): Promise<Set<string>> {
  const rows = await db
    .select({ hostId: hostImages.hostId })
    .from(hostImages)
    .innerJoin(hosts, eq(hosts.id, hostImages.hostId))
    .where(and(eq(hostImages.imageId, imageId), eq(hostImages.version, version)));
  return new Set(rows.map((r) => r.hostId));
}

/** What a host holds now, as its agent reports it on each heartbeat: rows for versions it dropped go. */
export async function setHostImages(
  db: Db,
  hostId: string,
  held: ReadonlyArray<{ name: string; version: number; sizeBytes?: number | null }>,
): Promise<void> {
  const keep = new Set<string>();
  for (const h of held) {
    const image = await ensureImage(db, h.name);
    await recordHostImage(db, hostId, image, { version: h.version, sizeBytes: h.sizeBytes });
    keep.add(`${image.id}@${h.version}`);
  }
  const rows = await db.select().from(hostImages).where(eq(hostImages.hostId, hostId));
  for (const row of rows) {
    if (keep.has(`${row.imageId}@${row.version}`)) continue;
    await db
      .delete(hostImages)
      .where(
        and(eq(hostImages.hostId, hostId), eq(hostImages.imageId, row.imageId), eq(hostImages.version, row.version)),
      );
  }
}
