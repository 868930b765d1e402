import { existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Agent } from "../../agent/agent.js";
import { GaolClient } from "../../clients/sdk/client.js";
import { ValidationError } from "../../core/index.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import type { MachineHandle } from "../../host/host.js";
import { Host } from "../../host/host.js";
import { ImageSyncError, type SyncProgress, syncImage } from "../../host/image/sync.js";
import { listVersions, newestVersion } from "../../host/image/versions.js";
import { ensureHost } from "../../host/setup/index.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi } from "../helpers/api.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// Image sync with real rsync and btrfs, and machines booted from the versions it makes. Names unique to this file.
const NS = "gaol-t-images";
const WORK = "/var/lib/gaol-test/images";
const IMAGE = "t-images";
const API_IMAGE = "t-images-api";
const base = hostConfigFromEnv();
const config = { ...base, bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
const SOURCE = join(base.root, "test-sources", IMAGE);

let lan: TestLan;
let host: Host;
let ssh: SshClient;

async function removeImage() {
  for (const image of [IMAGE, API_IMAGE]) {
    for (const dir of [paths.master(config, image), `${paths.master(config, image)}.sync`]) {
      if (existsSync(dir)) await run("btrfs", ["subvolume", "delete", dir]);
    }
    await rm(paths.images(config, image), { recursive: true, force: true });
  }
  if (existsSync(SOURCE)) await run("btrfs", ["subvolume", "delete", SOURCE]);
}

async function boot(name: string): Promise<{ handle: MachineHandle; ip: string }> {
  const handle = await host.provision(
    { name, owner: "gaoltimg", image: IMAGE, sshPublicKeys: [ssh.publicKey] },
    () => undefined,
  );
  const ready = await handle.ready;
  return { handle, ip: ready.ip };
}

const marker = (m: { handle: MachineHandle; ip: string }) =>
  ssh.exec("root", m.ip, "cat /etc/gaol-marker", m.handle.record.hostKeys);

beforeAll(async () => {
  await ensureHost(base, () => undefined);
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  await removeImage();
  await mkdir(join(base.root, "test-sources"), { recursive: true });
  // A master system to sync from: a snapshot of the default master, marked.
  await run("btrfs", ["subvolume", "snapshot", paths.master(base, "debian"), SOURCE]);
  await writeFile(join(SOURCE, "etc", "gaol-marker"), "one\n");
  lan = await createTestLan(NS, 34, join(WORK, "lan"));
  await createAccount("gaoltimg", 1561);
  ssh = await createSshClient(join(WORK, "client"), NS);
  host = new Host(config, { bootTimeoutMs: 60_000 });
  host.warmUp();
});

afterAll(async () => {
  for (const id of (await host?.localIds()) ?? []) await host.destroy(id).catch(() => undefined);
  await lan?.destroy();
  await removeAccount("gaoltimg");
  await removeImage();
  await rm(WORK, { recursive: true, force: true });
});

describe("image sync", () => {
  let first: { handle: MachineHandle; ip: string };
  let second: { handle: MachineHandle; ip: string };

  it("syncs a master from a local directory into a new version that boots, with progress", async () => {
    const progress: SyncProgress[] = [];
    const synced = await syncImage(config, IMAGE, SOURCE, { onProgress: (p) => progress.push(p) });
    expect(synced).toMatchObject({ image: IMAGE, version: 1, source: SOURCE });
    expect(progress.at(-1)).toEqual({ phase: "build" });
    first = await boot("img-one");
    expect(await marker(first)).toBe("one");
  });

  it("gives new machines a changed master; the running one keeps its version and both work", async () => {
    await writeFile(join(SOURCE, "etc", "gaol-marker"), "two\n");
    expect((await syncImage(config, IMAGE, SOURCE)).version).toBe(2);
    second = await boot("img-two");
    expect(await marker(second)).toBe("two");
    expect(await marker(first)).toBe("one");
    expect(first.handle.record.imageVersion).toBe(1);
    expect(second.handle.record.imageVersion).toBe(2);
    expect([...((await host.imageVersionsInUse()).get(IMAGE) ?? [])].sort()).toEqual([1, 2]);
  });

  it("refuses sources and names that could escape, before running anything", async () => {
    for (const [image, source] of [
      [IMAGE, "-e"],
      [IMAGE, `${SOURCE}/../..`],
      ["../debian", SOURCE],
    ] as const) {
      await expect(syncImage(config, image, source)).rejects.toBeInstanceOf(ValidationError);
    }
    expect((await newestVersion(config, IMAGE)).version).toBe(2);
  });

  it("keeps the previous version newest and bootable when the source is missing or the transfer is cut off", async () => {
    await expect(syncImage(config, IMAGE, "/nonexistent/master")).rejects.toThrow(/not a directory/);
    // An rsync daemon that is not there (loopback only: tests never leave the machine).
    await expect(syncImage(config, IMAGE, "rsync://127.0.0.1:9/master")).rejects.toThrow(ImageSyncError);
    // Cut off mid-transfer: enough new data that rsync is still copying when we abort.
    await run("dd", ["if=/dev/urandom", `of=${join(SOURCE, "big")}`, "bs=1M", "count=300", "status=none"]);
    const abort = new AbortController();
    const cut = syncImage(config, IMAGE, SOURCE, {
      signal: abort.signal,
      onProgress: (p) => p.phase === "transfer" && abort.abort(),
    });
    setTimeout(() => abort.abort(), 1500);
    await expect(cut).rejects.toThrow(/cancelled/);
    await rm(join(SOURCE, "big"));
    expect((await newestVersion(config, IMAGE)).version).toBe(2);
    expect(existsSync(`${paths.master(config, IMAGE)}.sync`)).toBe(false);
    expect(existsSync(join(paths.master(config, IMAGE), "big"))).toBe(false);
    const third = await boot("img-three");
    expect(await marker(third)).toBe("two");
    await host.destroy(third.handle.record.id);
  });

  it("collects a version once its last machine is gone, never the newest", async () => {
    expect((await host.collectImages(0)).get(IMAGE)).toBeUndefined();
    await host.destroy(first.handle.record.id);
    expect((await host.collectImages(0)).get(IMAGE)).toEqual([1]);
    await host.destroy(second.handle.record.id);
    expect((await host.collectImages(0)).get(IMAGE)).toBeUndefined();
    expect((await listVersions(config, IMAGE)).map((v) => v.version)).toEqual([2]);
  });
});

// Both hosts' machines' consoles (this file's Host, and the agent's own state dir), and the LAN's DHCP log.
printOnFailure(async () => {
  const consoles = [];
  for (const dir of [join(WORK, "state", "machines"), join(WORK, "agent-state", "machines")]) {
    for (const id of await readdir(dir).catch(() => [] as string[])) consoles.push(join(dir, id, "console.log"));
  }
  return [...consoles, join(WORK, "lan", "dnsmasq.log")];
});

describe("image sync through the api, run by the host's agent", () => {
  const gaol = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
  let api: TestApi;
  let agent: Agent;
  let url: string;

  beforeAll(async () => {
    api = await startTestApi();
    url = await api.app.start(0);
    const agentConfig = { ...config, stateDir: join(WORK, "agent-state") };
    agent = new Agent({
      api: url,
      token: await api.login("images-host", "AGENT", { hostMemoryMiB: 0 }),
      config: agentConfig,
      capacity: { memoryMiB: 2048, maxMachines: 4 },
      heartbeatMs: 500,
    });
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop().catch(() => undefined);
    await api?.close();
  });

  it("`gaol image sync` shows progress until the agent built the version; a machine boots from it", async () => {
    await writeFile(join(SOURCE, "etc", "gaol-marker"), "api\n");
    const admin = await api.login("images-admin", "ADMIN");
    const synced = await execa(gaol, ["image", "sync", API_IMAGE, "--from", SOURCE], {
      env: { GAOL_API: url, GAOL_TOKEN: admin },
      reject: false,
      timeout: 120_000,
    });
    expect(synced.exitCode, synced.stderr).toBe(0);
    expect(synced.stderr).toMatch(/gaol: building the image on images-host/);
    expect(synced.stderr).toMatch(new RegExp(`${API_IMAGE} version 1 built on images-host`));

    const client = new GaolClient({ url, token: await api.login("gaoltimg"), webSocket: WebSocket });
    const [image] = (await client.images()).filter((i) => i.name === API_IMAGE);
    expect(image).toMatchObject({ defaultVersion: 1, source: SOURCE, versions: [{ version: 1, hostCount: 1 }] });
    const machine = await client.provision({ name: "from-api", image: API_IMAGE, sshPublicKeys: [ssh.publicKey] });
    const ready = await client.waitForReady(machine.id);
    expect(ready.machine.imageVersion).toBe(1);
    expect(await ssh.exec("root", ready.ip, "cat /etc/gaol-marker", ready.hostKeys as never)).toBe("api");
    await client.destroy(machine.id);
    await client.waitForState(machine.id, "DESTROYED");

    const failed = await execa(gaol, ["image", "sync", API_IMAGE, "--from", "/nonexistent/master"], {
      env: { GAOL_API: url, GAOL_TOKEN: admin },
      reject: false,
      timeout: 60_000,
    });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/the sync failed on images-host: source \/nonexistent\/master is not a directory/);
    expect((await client.images()).find((i) => i.name === API_IMAGE)?.defaultVersion).toBe(1);
  });
});
