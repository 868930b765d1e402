// `gaol serve`: the api on the embedded database (or GAOL_DATABASE_URL) and, unless
// --no-agent, this host's agent. The composition root: the agent still reaches the
// api only over GraphQL (graphql-ws on loopback), as it would from another host.
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent } from "../agent/agent.js";
import { buildApp } from "../api/app.js";
import { localAgentToken } from "../api/bootstrap.js";
import { hostDownSecondsFromEnv } from "../api/passes.js";
import { rateLimitFromEnv } from "../api/rate-limit.js";
import { openPglite, openPostgres } from "../db/client.js";
import { hostConfigFromEnv } from "../host/config.js";
import { ensureLan } from "../host/network/lan.js";
import { connectTo } from "../host/ready/probe.js";
import { ensureHost } from "../host/setup/index.js";
import { checkHost } from "../host/setup/preflight.js";
import { commandLog } from "./log.js";
import { starting } from "./startup.js";

const log = commandLog("api", "gaol");
const agentLog = commandLog("agent", "gaol: agent");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    port: { type: "string", default: process.env.GAOL_PORT ?? "4000" },
    host: { type: "string", default: process.env.GAOL_LISTEN ?? "127.0.0.1" },
    "no-agent": { type: "boolean", default: false },
  },
});
const config = hostConfigFromEnv();
const rateLimit = await starting(log, async () => rateLimitFromEnv());
const hostDownSeconds = await starting(log, async () => hostDownSecondsFromEnv());
const agentToo = !values["no-agent"];
if (agentToo) {
  // Before the api listens: a host no machine could boot on is refused with what to do.
  await starting(log, async () => {
    await ensureHost(config, log);
    await ensureLan(config, log);
    await checkHost(config);
  });
}
const url = process.env.GAOL_DATABASE_URL;
const database = url ? await openPostgres(url) : await openPglite(join(config.stateDir, "db"));
// The page's terminals reach machines on this host's LAN, inside its namespace when it has one.
const dialMachine = (ip: string, port: number) => connectTo(ip, port, config.netns);
const app = await buildApp({ database, stateDir: config.stateDir, log, rateLimit, hostDownSeconds, dialMachine });
const endpoint = await app.start(Number(values.port), values.host);
log(`the web page at ${new URL("/", endpoint)}`);
log(
  `GraphQL and GraphiQL at ${endpoint} (${url ? "Postgres" : `embedded database in ${join(config.stateDir, "db")}`})`,
);
let agent: Agent | undefined;
if (agentToo) {
  const token = await localAgentToken(database.db, config.stateDir, hostname());
  agent = await starting(
    log,
    async () => {
      const local = new Agent({
        api: endpoint.replace(values.host, "127.0.0.1"),
        token,
        config,
        log: agentLog,
      });
      await local.start();
      return local;
    },
    async () => {
      await app.stop();
      await database.close();
    },
  );
  log(`agent for host ${hostname()} is running`);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    // Machines keep running; the next start re-adopts them.
    await agent?.stop();
    await app.stop();
    await database.close();
    process.exit(0);
  });
}
