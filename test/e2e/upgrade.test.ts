import { existsSync } from "node:fs";
import { mkdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ResultPromise } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { localId } from "../../agent/api/ids.js";
import { GaolClient } from "../../clients/sdk/index.js";
import { openPostgres } from "../../db/client.js";
import { createToken } from "../../db/queries/tokens.js";
import { ensureUser } from "../../db/queries/users.js";
import { hosts } from "../../db/schema.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run, succeeds } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { readRecord } from "../../host/machine/record.js";
import { ensureHost } from "../../host/setup/index.js";
import { isKernelOf } from "../../host/uml/process.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { freePort } from "../helpers/cuttable-proxy.js";
import { killGroup, ProcessLogs, serveApi, spawnGaol, until } from "../helpers/gaol-process.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { PostgresServer } from "../helpers/postgres-server.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// An upgrade in place (issue 17): an older release's api and agent run a machine, then this
// checkout's api (its migrations run forward on start) and agent take over while the kernel runs.
// Names unique to this file.
//
// OLD is a release whose kernel, jailer and image inputs are this checkout's: its agent must find
// them built. When those inputs change, move OLD to a commit that has the new ones.
const OLD = "2b487b16d06c739f9980e86fbd50577ebce7ae9e";
const NS = "gaol-t-upgrade";
const WORK = "/var/lib/gaol-test/upgrade";
const repo = fileURLToPath(new URL("../..", import.meta.url));
const oldTree = join(WORK, "old");
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
const postgres = new PostgresServer(join(WORK, "postgres"), Number(process.env.GAOL_TEST_PG_PORT ?? 55432) + 4);
const logs = new ProcessLogs();

let lan: TestLan;
let owner: TestAccount;
let ssh: SshClient;
let apiPort: number;
let api: ResultPromise | undefined;
let agent: ResultPromise | undefined;
let agentToken: string;
let userToken: string;

async function startApi(bin?: string): Promise<void> {
  const tag = bin ? "old api" : "api";
  api = (await serveApi({ port: apiPort, databaseUrl: postgres.url, stateDir: join(WORK, "api"), logs, tag, bin }))
    .child;
}

function startAgent(bin?: string): void {
  agent = spawnGaol(
    ["agent", "--api", `http://127.0.0.1:${apiPort}/graphql`, "--token", agentToken],
    { GAOL_BRIDGE: "br0", GAOL_NETNS: NS, GAOL_STATE_DIR: config.stateDir, GAOL_MEMORY_MIB: "2048" },
    logs,
    bin ? "old agent" : "agent",
    bin,
  );
}

/** SIGTERM, as systemd stops a unit for an upgrade: the agent goes, its machines run on. */
async function stop(child: ResultPromise | undefined): Promise<void> {
  if (!child?.pid) return;
  process.kill(-child.pid, "SIGTERM");
  await child;
}

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  await run("git", ["-C", repo, "worktree", "prune"]);
  // A shallow clone lacks the release: fetch it once, and say what to do if that cannot be done.
  const haveOld = () => succeeds("git", ["-C", repo, "cat-file", "-e", `${OLD}^{commit}`]);
  if (!(await haveOld())) await run("git", ["-C", repo, "fetch", "--quiet", "origin", OLD]).catch(() => undefined);
  if (!(await haveOld())) throw new Error(`release ${OLD} is not in this clone: git fetch --unshallow, then run again`);
  await run("git", ["-C", repo, "worktree", "add", "--detach", oldTree, OLD]);
  await symlink(join(repo, "node_modules"), join(oldTree, "node_modules"));
  lan = await createTestLan(NS, 55, join(WORK, "lan"));
  owner = await createAccount("gaoltupg", 1608);
  ssh = await createSshClient(join(WORK, "client"), NS);
  await postgres.create();
  apiPort = await freePort();
  await startApi(join(oldTree, "bin", "gaol"));
  const database = await openPostgres(postgres.url);
  agentToken = (
    await createToken(database.db, (await ensureUser(database.db, { name: "upgrade-host", role: "AGENT" })).id)
  ).secret;
  const user = await ensureUser(database.db, { name: owner.name, hostUser: owner.name });
  userToken = (await createToken(database.db, user.id)).secret;
  await database.close();
}, 300_000);

afterAll(async () => {
  await killGroup(agent);
  await killGroup(api);
  const host = new Host(config);
  for (const id of await host.localIds().catch(() => [])) await host.destroy(id).catch(() => undefined);
  await postgres.remove();
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await run("git", ["-C", repo, "worktree", "remove", "--force", oldTree]).catch(() => undefined);
  await rm(WORK, { recursive: true, force: true });
});

describe(`an upgrade from ${OLD.slice(0, 7)} in place`, () => {
  it("keeps the machine's kernel running through the new api's migrations and the new agent's adoption", async () => {
    try {
      const client = new GaolClient({
        url: `http://127.0.0.1:${apiPort}/graphql`,
        token: userToken,
        webSocket: WebSocket,
      });
      startAgent(join(oldTree, "bin", "gaol"));
      const provisioned = await until("the old agent's host takes machines", 120_000, async () =>
        // An old agent that has to build a kernel of its own is no upgrade of this host.
        /building gaol's UML kernel/.test(logs.tail(400))
          ? "building"
          : client.provision({ name: "survivor", sshPublicKeys: [ssh.publicKey] }),
      );
      if (provisioned === "building")
        throw new Error(
          `${OLD}'s kernel inputs are not this checkout's: move OLD in this file to a commit that has them`,
        );
      const ready = await client.waitForReady(provisioned.id, { timeoutMs: 180_000 });
      const record = await readRecord(paths.machine(config, localId(ready.machine.id)));
      const pid = record?.pid as number;

      await stop(api);
      await startApi();
      await stop(agent);
      expect(await isKernelOf(pid, record?.umid as string)).toBe(true);
      startAgent();
      const handedOver = Date.now();
      await until("the new agent re-adopted the machine", 120_000, async () =>
        /re-adopted survivor/.test(logs.tail(400)) ? true : undefined,
      );
      // The machine was the old release's: its agent booted it and said so.
      expect(logs.tail(400)).toMatch(/old agent: .*managing this host's machines/);
      console.log(
        `upgrade from ${OLD.slice(0, 7)}: its agent booted pid ${pid}; this checkout's api migrated forward, and its agent ` +
          `re-adopted the kernel ${((Date.now() - handedOver) / 1000).toFixed(1)} s after it started`,
      );
      const after = await client.waitForReady(ready.machine.id, { timeoutMs: 60_000 });
      expect(after.machine.state).toBe("READY");
      expect((await readRecord(paths.machine(config, localId(ready.machine.id))))?.pid).toBe(pid);
      expect(await ssh.exec("root", ready.ip, "echo still-here", ready.hostKeys)).toBe("still-here");
      const states = (await client.log(ready.machine.id)).flatMap((e) =>
        e.__typename === "MachineStateChanged" ? [e.state] : [],
      );
      expect(states).not.toContain("FAILED");
      expect(states.at(-1)).toBe("READY");
      // The new api's migrations ran forward: the new agent's heartbeat fills a column the old schema lacked.
      const database = await openPostgres(postgres.url);
      const freeOnRoot = () => database.db.select({ free: hosts.rootFreeMiB }).from(hosts);
      await expect.poll(async () => (await freeOnRoot())[0]?.free ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
      await database.close();

      await client.destroy(ready.machine.id);
      await client.waitForState(ready.machine.id, "DESTROYED", { timeoutMs: 60_000 });
      expect(existsSync(paths.machine(config, localId(ready.machine.id)))).toBe(false);
    } catch (error) {
      console.log(logs.tail(150));
      throw error;
    }
  }, 600_000);
});
