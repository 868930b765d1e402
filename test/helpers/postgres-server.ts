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

/** A Postgres server in a directory of its own on a loopback port: made, started, stopped (a crash too). */
export class PostgresServer {
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async create(): Promise<void> {
    await this.stop("immediate");
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true });
    const { stdout } = await run("id", ["-u", "postgres"]);
    await chown(this.dir, Number(stdout), Number(stdout));
    await asPostgres(`${BIN}/initdb`, ["-D", `${this.dir}/data`, "-A", "trust", "-U", "postgres", "--no-sync"]);
    await this.start();
  }

  async start(): Promise<void> {
    await asPostgres(`${BIN}/pg_ctl`, [
      "-D",
      `${this.dir}/data`,
      "-l",
      `${this.dir}/server.log`,
      "-w",
      "-o",
      `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${this.dir} -c fsync=off -c max_connections=300`,
      "start",
    ]);
  }

  /** `immediate` is a crash: no checkpoint, every backend gone at once, recovery on the next start. */
  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    if (!existsSync(`${this.dir}/data`)) return;
    await asPostgres(`${BIN}/pg_ctl`, ["-D", `${this.dir}/data`, "-m", mode, "stop"]).catch(() => undefined);
  }

  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

const server = new PostgresServer(DIR, TEST_POSTGRES.port);

export async function setup(): Promise<void> {
  await server.create();
}

export async function teardown(): Promise<void> {
  await server.remove();
}
