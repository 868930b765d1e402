import { existsSync } from "node:fs";
import { mkdir, readdir, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT_MIN_FREE_MIB } from "../../core/index.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { tapNameFromId } from "../../host/network/identity.js";
import { ensureHost } from "../../host/setup/index.js";
import { freeMiB } from "../../host/storage/space.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { createTestLan, type TestLan, tapExists } from "../helpers/lan.js";

// The fault "/uml full" (issue 17): GAOL_ROOT on a small loop-backed btrfs of this file's own,
// filled to the brim, then given room again. Names unique to this file.
const NS = "gaol-t-full";
const WORK = "/var/lib/gaol-test/root-full";
const ROOT = join(WORK, "root");
const base = hostConfigFromEnv();
const config = {
  ...base,
  root: ROOT,
  kernel: join(ROOT, "kernel", "linux"),
  bridge: "br0",
  netns: NS,
  stateDir: join(WORK, "state"),
};
const FILLER = join(ROOT, "filler");

let lan: TestLan;
let owner: TestAccount;
let host: Host;

/** The built kernel, the jailer and the default image's versions, copied (sparse) from the host's root. */
async function seedRoot(): Promise<void> {
  for (const dir of ["kernel", "jail"]) {
    const target = await readlink(join(base.root, dir, dir === "kernel" ? "linux" : "gaol-jail"));
    const build = target.split("/")[0] as string;
    await mkdir(join(ROOT, dir), { recursive: true });
    await run("cp", ["-a", join(base.root, dir, build), join(ROOT, dir)]);
    await run("cp", ["-a", join(base.root, dir, dir === "kernel" ? "linux" : "gaol-jail"), join(ROOT, dir)]);
  }
  await mkdir(join(ROOT, "images"), { recursive: true });
  await run("cp", ["-a", "--sparse=always", join(base.root, "images", "debian"), join(ROOT, "images")]);
}

async function unmount(): Promise<void> {
  await run("umount", [ROOT]).catch(() => undefined);
}

beforeAll(async () => {
  await ensureHost(base, () => undefined);
  await unmount();
  await rm(WORK, { recursive: true, force: true });
  await mkdir(ROOT, { recursive: true });
  await run("truncate", ["-s", "1600M", join(WORK, "btrfs.img")]);
  await run("mkfs.btrfs", ["-q", join(WORK, "btrfs.img")]);
  await run("mount", ["-o", "loop", join(WORK, "btrfs.img"), ROOT]);
  await seedRoot();
  lan = await createTestLan(NS, 54, join(WORK, "lan"));
  owner = await createAccount("gaoltful", 1607);
  host = new Host(config, { bootTimeoutMs: 120_000 });
}, 300_000);

afterAll(async () => {
  for (const id of (await host?.localIds().catch(() => [])) ?? []) await host.destroy(id).catch(() => undefined);
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await unmount();
  await rm(WORK, { recursive: true, force: true });
});

printOnFailure(() => [join(paths.machine(config, "t-full-b"), "console.log")]);

describe("GAOL_ROOT full", () => {
  it("refuses a new machine saying what to do, leaves nothing, and boots one once there is room", async () => {
    // Nearly everything taken, as a disk filled by other machines' writes would be.
    await run("btrfs", ["filesystem", "sync", ROOT]);
    await run("fallocate", ["-l", `${(await freeMiB(ROOT)) - 200}M`, FILLER]);
    await run("btrfs", ["filesystem", "sync", ROOT]);
    expect(await freeMiB(ROOT)).toBeLessThan(ROOT_MIN_FREE_MIB);

    const refused = await host
      .provision({ name: "t-full-a", owner: owner.name }, () => undefined)
      .then(
        () => undefined,
        (error: Error) => error,
      );
    expect(refused?.message).toMatch(
      new RegExp(`^GAOL_ROOT ${ROOT} has \\d+ MiB free, less than the ${ROOT_MIN_FREE_MIB} MiB .*: destroy machines`),
    );
    expect(existsSync(paths.machine(config, "t-full-a"))).toBe(false);
    expect(await readdir(paths.gaols(config)).catch(() => [])).toEqual([]);
    expect(await tapExists(tapNameFromId("t-full-a"), NS)).toBe(false);

    await rm(FILLER);
    await run("btrfs", ["filesystem", "sync", ROOT]);
    const handle = await host.provision({ name: "t-full-b", owner: owner.name }, () => undefined);
    const ready = await handle.ready;
    expect(ready.ip.startsWith(`${lan.prefix}.`)).toBe(true);
    await host.destroy("t-full-b");
    expect(await readdir(paths.gaols(config))).toEqual([]);
  }, 300_000);
});
