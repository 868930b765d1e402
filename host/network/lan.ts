import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { HostConfigError } from "../../core/index.js";
import { DEFAULT_BRIDGE, type HostConfig } from "../config.js";
import { run, succeeds } from "../exec/run.js";

/** An isolated LAN: a bridge with its own DHCP server (dnsmasq) and no NAT, optionally inside a namespace. */
export interface IsolatedLan {
  netns?: string;
  bridge: string;
  /** First three octets, e.g. "10.213.0": the bridge is .1/24, leases .10–.250. */
  prefix: string;
  /** Where dnsmasq keeps its pid, leases and log. */
  dir: string;
  /** dnsmasq's default ping check before offering a new address (~3 s per new lease); off by default. */
  ping?: boolean;
}

/**
 * Every machine has a MAC of its own and most live briefly: a wide range and short
 * leases let addresses of destroyed machines return to the pool within the hour.
 */
export const DHCP_RANGE = { first: 10, last: 250 } as const;
const LEASE_TIME = "1h";

/** Creates the namespace (if named), bridge and DHCP server; an existing one is left as it is. */
export async function ensureIsolatedLan(lan: IsolatedLan): Promise<void> {
  const { netns, bridge, prefix, dir } = lan;
  if (netns && !(await succeeds("ip", ["netns", "exec", netns, "true"]))) {
    await run("ip", ["netns", "add", netns]);
    await run("ip", ["link", "set", "lo", "up"], { netns });
  }
  if (!(await succeeds("ip", ["link", "show", "dev", bridge], { netns }))) {
    const batch = [
      `link add ${bridge} type bridge forward_delay 0`,
      `addr add ${prefix}.1/24 dev ${bridge}`,
      `link set ${bridge} up`,
    ].join("\n");
    await run("ip", ["-batch", "-"], { netns, input: batch });
  }
  if (!(await dnsmasqPid(dir))) {
    // The leases name every user's machine and address: root's alone (dnsmasq opens them before it drops root).
    await mkdir(dirname(dir), { recursive: true });
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o700);
    await run(
      "dnsmasq",
      [
        `--interface=${bridge}`,
        "--bind-interfaces",
        "--except-interface=lo",
        "--port=0",
        // Answer the first DISCOVER: the default ping check delays a new address by ~3 s.
        ...(lan.ping ? [] : ["--no-ping"]),
        "--no-resolv",
        "--no-hosts",
        `--dhcp-range=${prefix}.${DHCP_RANGE.first},${prefix}.${DHCP_RANGE.last},255.255.255.0,${LEASE_TIME}`,
        `--dhcp-leasefile=${join(dir, "dnsmasq.leases")}`,
        `--pid-file=${join(dir, "dnsmasq.pid")}`,
        `--log-facility=${join(dir, "dnsmasq.log")}`,
        "--log-dhcp",
      ],
      { netns },
    );
  }
}

async function dnsmasqPid(dir: string): Promise<number | undefined> {
  const pid = Number((await readFile(join(dir, "dnsmasq.pid"), "utf8").catch(() => "")).trim());
  if (!(pid > 0)) return undefined;
  const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
  return comm.trim() === "dnsmasq" ? pid : undefined;
}

/** Stops the LAN's DHCP server (ensureIsolatedLan starts it again). */
export async function stopDhcpServer(lan: Pick<IsolatedLan, "dir">): Promise<void> {
  const pid = await dnsmasqPid(lan.dir);
  if (pid) process.kill(pid, "SIGKILL");
  await rm(join(lan.dir, "dnsmasq.pid"), { force: true });
}

/** Stops the DHCP server and removes the namespace (or, without one, the bridge). */
export async function removeIsolatedLan(lan: IsolatedLan): Promise<void> {
  await stopDhcpServer(lan);
  if (lan.netns) await run("ip", ["netns", "del", lan.netns]).catch(() => undefined);
  else await run("ip", ["link", "del", "dev", lan.bridge]).catch(() => undefined);
}

/**
 * The LAN the machines join: GAOL_BRIDGE when it names an existing bridge;
 * unset, gaol's own isolated bridge with DHCP and no NAT (GAOL_SUBNET, default 10.213.0).
 */
export async function ensureLan(config: HostConfig, log: (line: string) => void): Promise<void> {
  if (config.bridge !== DEFAULT_BRIDGE) {
    const problem = await bridgeProblem(config);
    if (problem) throw new HostConfigError([problem]);
    return;
  }
  const prefix = process.env.GAOL_SUBNET ?? "10.213.0";
  await ensureIsolatedLan({ netns: config.netns, bridge: config.bridge, prefix, dir: join(config.stateDir, "lan") });
  log(`machines join ${config.bridge} (${prefix}.0/24, DHCP by dnsmasq, no NAT)`);
}

/** What keeps machines off the bridge they are to join (with what to do), else undefined. */
export async function bridgeProblem(config: Pick<HostConfig, "bridge" | "netns">): Promise<string | undefined> {
  const { bridge, netns } = config;
  if (netns && !(await succeeds("ip", ["netns", "exec", netns, "true"])))
    return `GAOL_NETNS=${netns} is not a network namespace here (ip netns list shows them): create it, or unset GAOL_NETNS`;
  const where = netns ? `in network namespace ${netns}` : "here";
  const shown = await run("ip", ["-j", "-d", "link", "show", "dev", bridge], { netns }).catch(() => undefined);
  const [link] = shown
    ? (JSON.parse(shown.stdout) as Array<{ flags?: string[]; linkinfo?: { info_kind?: string } }>)
    : [];
  const own = bridge === DEFAULT_BRIDGE ? "" : `, or unset GAOL_BRIDGE for gaol's own LAN`;
  if (!link)
    return `GAOL_BRIDGE=${bridge} does not exist ${where}: create it (ip link add ${bridge} type bridge)${own}`;
  const kind = link.linkinfo?.info_kind;
  if (kind !== "bridge")
    return `GAOL_BRIDGE=${bridge} ${where} is ${kind ? `a ${kind} interface` : "no bridge"}: machines' taps can only join a bridge${own}`;
  if (!link.flags?.includes("UP")) return `GAOL_BRIDGE=${bridge} ${where} is down: ip link set ${bridge} up`;
  return undefined;
}
