// `gaol serve`: the api on the embedded database (or GAOL_DATABASE_URL), plus, from Part 3, this host's agent.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openPglite, openPostgres } from "../db/client.js";
import { buildApp } from "./app.js";

const log = (line: string) => console.error(`gaol: ${line}`);
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    port: { type: "string", default: process.env.GAOL_PORT ?? "4000" },
    host: { type: "string", default: process.env.GAOL_LISTEN ?? "127.0.0.1" },
    "no-agent": { type: "boolean", default: false },
  },
});
const stateDir = process.env.GAOL_STATE_DIR ?? "/var/lib/gaol";
const url = process.env.GAOL_DATABASE_URL;
const database = url ? await openPostgres(url) : await openPglite(join(stateDir, "db"));
const app = await buildApp({ database, stateDir, log });
const endpoint = await app.start(Number(values.port), values.host);
log(`GraphQL (and GraphiQL) at ${endpoint}; ${url ? "Postgres" : `embedded database in ${join(stateDir, "db")}`}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await app.stop();
    await database.close();
    process.exit(0);
  });
}
