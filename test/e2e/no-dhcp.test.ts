import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MachineEvent } from "../../core/index.js";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { ensureHost } from "../../host/setup/index.js";
import { processGroupMembers } from "../../host/uml/process.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { tapExists } from "../helpers/lan.js";

// Names unique to this file: a LAN with a bridge and no DHCP server at all.
const NS = "gaol-t-nodhcp";
const WORK = "/var/lib/gaol-test/no-dhcp";
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
const NAME = "t-nodhcp";

let host: Host;
let owner: TestAccount;

beforeAll(async () => {
  await ensureHost(config, (line) => console.log(`setup: ${line}`));
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
  await mkdir(WORK, { recursive: true });
  await run("ip", ["netns", "add", NS]);
  const bridge = ["link set lo up", "link add br0 type bridge forward_delay 0", "link set br0 up"].join("\n");
  await run("ip", ["-batch", "-"], { netns: NS, input: bridge });
  owner = await createAccount("gaoltnod", 1581);
  host = new Host(config, { bootTimeoutMs: 120_000 });
});

afterAll(async () => {
  await host?.destroy(NAME).catch(() => undefined);
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
  await removeAccount("gaoltnod");
  await rm(WORK, { recursive: true, force: true });
});

printOnFailure(() => [join(paths.machine(config, NAME), "console.log")]);

describe("a LAN whose DHCP server never answers", () => {
  it("warns while the kernel asks, then fails the machine with a reason that says what to check", async () => {
    const events: MachineEvent[] = [];
    const started = performance.now();
    const handle = await host.provision({ name: NAME, owner: owner.name }, (e) => events.push(e));
    const error = await handle.ready.then(
      () => undefined,
      (e: Error) => e,
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`no DHCP answer → FAILED after ${seconds.toFixed(1)} s (the boot timeout is 120 s)`);
    expect(error?.message).toMatch(/no DHCP server answered.*GAOL_BRIDGE/);
    expect(seconds).toBeLessThan(100);
    const warnings = events.flatMap((e) => (e.kind === "LeaseWarning" ? [e.payload] : []));
    expect(warnings.at(-1)?.gaveUp).toMatch(/Auto-configuration of network failed/);
    // The failed machine is torn down: FAILED with the reason, no kernel, no tap left.
    await expect
      .poll(() => events.some((e) => e.kind === "MachineStateChanged" && e.payload.state === "FAILED"))
      .toBe(true);
    const failed = events.find((e) => e.kind === "MachineStateChanged" && e.payload.state === "FAILED");
    expect(failed?.kind === "MachineStateChanged" && failed.payload.reason).toMatch(/no DHCP server answered/);
    expect(await processGroupMembers(handle.record.pid as number)).toEqual([]);
    expect(await tapExists(handle.record.tap, NS)).toBe(false);
  });
});
