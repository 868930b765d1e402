// `gaol agent --api URL --token T`: this host's agent, alone (the api runs elsewhere).
import { parseArgs } from "node:util";
import { Agent } from "../agent/agent.js";
import { hostConfigFromEnv } from "../host/config.js";
import { ensureLan } from "../host/network/lan.js";
import { ensureHost } from "../host/setup/index.js";
import { commandLog } from "./log.js";
import { starting } from "./startup.js";

const log = commandLog("agent", "gaol agent");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { api: { type: "string" }, token: { type: "string" } },
});
const api = values.api ?? process.env.GAOL_API;
const token = values.token ?? process.env.GAOL_AGENT_TOKEN;
if (!api || !token) {
  console.error("usage: gaol agent --api URL --token AGENT_TOKEN");
  process.exit(2);
}
const config = hostConfigFromEnv();
const agent = await starting(log, async () => {
  await ensureHost(config, log);
  await ensureLan(config, log);
  const started = new Agent({ api, token, config, log });
  await started.start();
  return started;
});
log(`managing this host's machines for ${api}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  // The machines keep running: the next agent re-adopts them.
  process.once(signal, () => void agent.stop().then(() => process.exit(0)));
}
