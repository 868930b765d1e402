// vitest globalSetup: a private Postgres server for the whole run, on loopback,
// in a data directory of its own; stopped when the run ends.
import { existsSync } from "node:fs";
import { chown, mkdir, rm } from "node:fs/promises";
import { run } from "../../host/exec/run.js";

const BIN = "/usr/lib/postgresql/15/bin";
// Overridable so that two checkouts can run their suites side by side.
const DIR = process.env.GAOL_TEST_PG_DIR ?? "/var/lib/gaol-test/postgres";
export const TEST_POSTGRES = {
  host: "127.0.0.1",
  port: Number(process.env.GAOL_TEST_PG_PORT ?? 55432),
  user: "postgres",
};

async function asPostgres(file: string, args: string[]) {
  const { stdout } = await run("id", ["-u", "postgres"]);
  const uid = Number(stdout);
  const { stdout: gid } = await run("id", ["-g", "postgres"]);
  return run(file, args, { asUser: { uid, gid: Number(gid) }, timeoutMs: 120_000 });
}

export async function setup(): Promise<void> {
  const data = `${DIR}/data`;
  await asPostgres(`${BIN}/pg_ctl`, ["-D", data, "-m", "immediate", "stop"]).catch(() => undefined);
  await rm(DIR, { recursive: true, force: true });
  await mkdir(DIR, { recursive: true });
  const { stdout } = await run("id", ["-u", "postgres"]);
  await chown(DIR, Number(stdout), Number(stdout));
  await asPostgres(`${BIN}/initdb`, ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  await asPostgres(`${BIN}/pg_ctl`, [
    "-D",
    data,
    "-l",
    `${DIR}/server.log`,
    "-w",
    "-o",
    `-c listen_addresses=${TEST_POSTGRES.host} -p ${TEST_POSTGRES.port} -k ${DIR} -c fsync=off -c max_connections=300`,
    "start",
  ]);
}

export async function teardown(): Promise<void> {
  if (existsSync(`${DIR}/data`)) {
    await asPostgres(`${BIN}/pg_ctl`, ["-D", `${DIR}/data`, "-m", "fast", "stop"]).catch(() => undefined);
  }
  await rm(DIR, { recursive: true, force: true });
}
