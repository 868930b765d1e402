import { hostConfigFromEnv } from "/work/main/agents/config.js";
import { Host } from "/work/main/agents/host.js";
import { createAccount } from "/work/main/test/helpers/accounts.js";
import { createTestLan } from "/work/main/test/helpers/lan.js";

const lan = await createTestLan("gtry", 1, "/tmp/gtry");
await createAccount("gtry1", 1601);
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: lan.netns, stateDir: "/tmp/gtry/state" };
const host = new Host(config, { bootTimeoutMs: 60000 });
const t0 = Date.now();
const h = await host.provision({ name: "try1", owner: "gtry1", sshPublicKeys: [] }, (e) =>
  console.log(((Date.now() - t0) / 1000).toFixed(3), JSON.stringify(e)),
);
try {
  const r = await h.ready;
  console.log("READY", r, (Date.now() - t0) / 1000);
} catch (e) {
  console.log("ERR", e);
}
const t1 = Date.now();
await host.destroy("try1", (e) => console.log(JSON.stringify(e)));
console.log("destroy ms", Date.now() - t1);
await lan.destroy();
