import { chmod, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { Listener } from "./listener.js";
import * as schema from "./schema.js";

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** One database, whichever driver: queries through drizzle, notifications through listen/notify. */
export interface Database {
  db: Db;
  /** Calls onPayload for every NOTIFY on channel; resolves once listening. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /** Calls fn (with when it was lost) each time listening resumes after a lost connection: what was notified meanwhile is lost. */
  onListenResumed(fn: (lostAt: Date) => void): () => void;
  close(): Promise<void>;
  kind: "postgres" | "pglite";
}

const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url));

/** Real Postgres at url (several api replicas can share it). Migrations run first. */
export async function openPostgres(url: string): Promise<Database> {
  const sql = postgres(url, { max: 10, onnotice: () => undefined });
  const db = drizzlePostgres(sql, { schema });
  await migratePostgres(db, { migrationsFolder });
  const listener = new Listener(url);
  return {
    kind: "postgres",
    db: db as unknown as Db,
    listen: (channel, onPayload) => listener.listen(channel, onPayload),
    onListenResumed: (fn) => listener.onResumed(fn),
    close: async () => {
      await listener.end();
      await sql.end({ timeout: 5 });
    },
  };
}

/** Embedded PGlite in dataDir (in memory when undefined): one process, no server. */
export async function openPglite(dataDir?: string): Promise<Database> {
  if (dataDir) {
    // Its files hold every user's keys and tokens' hashes (PGlite makes them 0666): only root may enter.
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await chmod(dataDir, 0o700);
  }
  const client = new PGlite(dataDir);
  const db = drizzlePglite(client, { schema });
  await migratePglite(db, { migrationsFolder });
  return {
    kind: "pglite",
    db: db as unknown as Db,
    async listen(channel, onPayload) {
      return client.listen(channel, onPayload);
    },
    // In this process: nothing to lose.
    onListenResumed: () => () => undefined,
    close: () => client.close(),
  };
}

export { schema };

/** A transaction's handle: queries that lock rows take one. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** Either: a query that works inside and outside a transaction. */
export type Queryable = Db | Tx;
