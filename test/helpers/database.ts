import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { type Database, openPglite, openPostgres } from "../../db/client.js";
import { TEST_POSTGRES } from "./postgres-server.js";

export function postgresUrl(database: string): string {
  return `postgres://${TEST_POSTGRES.user}@${TEST_POSTGRES.host}:${TEST_POSTGRES.port}/${database}`;
}

/** A fresh, migrated database on the test server for one test file (or PGlite in memory). */
export async function testDatabase(
  kind: "postgres" | "pglite" = "postgres",
): Promise<{ database: Database; url?: string; drop(): Promise<void> }> {
  if (kind === "pglite") {
    const database = await openPglite();
    return { database, drop: () => database.close() };
  }
  const name = `gaol_t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(postgresUrl("postgres"), { max: 1, onnotice: () => undefined });
  await admin.unsafe(`create database ${name}`);
  const url = postgresUrl(name);
  const database = await openPostgres(url);
  return {
    database,
    url,
    async drop() {
      await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
