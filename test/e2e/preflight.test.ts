import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../host/exec/run.js";
import { bridgeProblem } from "../../host/network/lan.js";

// Names unique to this file: a namespace with a bridge that is up, one that is down, and no bridge at all.
const NS = "gaol-t-preflight";
const WORK = "/var/lib/gaol-test/preflight";
const gaol = fileURLToPath(new URL("../../bin/gaol", import.meta.url));

beforeAll(async () => {
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
  await mkdir(WORK, { recursive: true });
  await run("ip", ["netns", "add", NS]);
  const links = [
    "link set lo up",
    "link add br0 type bridge forward_delay 0",
    "link set br0 up",
    "link add brdown type bridge",
    "link add veth0 type veth peer name veth1",
    "link set veth0 up",
  ].join("\n");
  await run("ip", ["-batch", "-"], { netns: NS, input: links });
});

afterAll(async () => {
  await run("ip", ["netns", "del", NS]).catch(() => undefined);
  await rm(WORK, { recursive: true, force: true });
});

describe("the bridge the machines join, checked at start", () => {
  it("passes a bridge that is up, and says what to do about anything else", async () => {
    expect(await bridgeProblem({ bridge: "br0", netns: NS })).toBeUndefined();
    expect(await bridgeProblem({ bridge: "brdown", netns: NS })).toBe(
      `GAOL_BRIDGE=brdown in network namespace ${NS} is down: ip link set brdown up`,
    );
    expect(await bridgeProblem({ bridge: "veth0", netns: NS })).toBe(
      `GAOL_BRIDGE=veth0 in network namespace ${NS} is a veth interface: machines' taps can only join a bridge, or unset GAOL_BRIDGE for gaol's own LAN`,
    );
    expect(await bridgeProblem({ bridge: "nothere", netns: NS })).toBe(
      `GAOL_BRIDGE=nothere does not exist in network namespace ${NS}: create it (ip link add nothere type bridge), or unset GAOL_BRIDGE for gaol's own LAN`,
    );
    expect(await bridgeProblem({ bridge: "br0", netns: `${NS}-none` })).toBe(
      `GAOL_NETNS=${NS}-none is not a network namespace here (ip netns list shows them): create it, or unset GAOL_NETNS`,
    );
  });
});

describe("gaol agent on a host no machine could boot on", () => {
  it("exits non-zero with one plain line that says what to do, and boots nothing", async () => {
    // `mktemp -d`: 0700, so no owner's kernel could reach a machine directory under it.
    const closed = await mkdtemp(join(WORK, "closed-"));
    const stateDir = join(closed, "state");
    const env = { ...process.env, GAOL_STATE_DIR: stateDir, GAOL_NETNS: NS, GAOL_BRIDGE: "br0" };
    const result = await execa(gaol, ["agent", "--api", "http://127.0.0.1:9/graphql", "--token", "gaol_x"], {
      env,
      reject: false,
      timeout: 600_000,
    });
    const lines = result.stderr.split("\n");
    expect(result.exitCode, result.stderr).toBe(1);
    expect(lines.at(-1)).toBe(
      `gaol agent: GAOL_STATE_DIR=${stateDir}: machines' kernels run as their owners and cannot pass through ${closed} (mode 0700): ` +
        `chmod o+x ${closed}, or choose a place whose parents every account may enter`,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it("names a bridge that does not exist the same way", async () => {
    const env = { ...process.env, GAOL_STATE_DIR: join(WORK, "state"), GAOL_NETNS: NS, GAOL_BRIDGE: "nothere" };
    const result = await execa(gaol, ["agent", "--api", "http://127.0.0.1:9/graphql", "--token", "gaol_x"], {
      env,
      reject: false,
      timeout: 600_000,
    });
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr.split("\n").at(-1)).toBe(
      `gaol agent: GAOL_BRIDGE=nothere does not exist in network namespace ${NS}: create it (ip link add nothere type bridge), or unset GAOL_BRIDGE for gaol's own LAN`,
    );
  });
});
