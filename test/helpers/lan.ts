import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../agents/exec/run.js";

/**
 * A LAN of the test's own: namespace `<name>` with bridge br0 at .1 and
 * dnsmasq serving DHCP on it, and namespace `<name>-peer`, another host on
 * the LAN at .2 through a veth. Nothing touches the host's own network.
 */
export interface TestLan {
  netns: string;
  peerNetns: string;
  bridge: string;
  gateway: string;
  peerIp: string;
  rangeStart: number;
  rangeEnd: number;
  prefix: string;
  destroy(): Promise<void>;
}

export async function createTestLan(name: string, subnet: number, dir: string): Promise<TestLan> {
  const prefix = `10.${200 + Math.floor(subnet / 256)}.${subnet % 256}`;
  const netns = name;
  const peerNetns = `${name}-peer`;
  const lan: TestLan = {
    netns,
    peerNetns,
    bridge: "br0",
    gateway: `${prefix}.1`,
    peerIp: `${prefix}.2`,
    rangeStart: 100,
    rangeEnd: 200,
    prefix,
    destroy: () => destroyTestLan(netns, peerNetns, dir),
  };
  await lan.destroy();
  await mkdir(dir, { recursive: true });
  try {
    await run("ip", ["netns", "add", netns]);
    await run("ip", ["netns", "add", peerNetns]);
    const batch = [
      "link set lo up",
      "link add br0 type bridge forward_delay 0",
      `addr add ${lan.gateway}/24 dev br0`,
      "link set br0 up",
      `link add veth-peer type veth peer name eth0 netns ${peerNetns}`,
      "link set veth-peer master br0 up",
    ].join("\n");
    await run("ip", ["-n", netns, "-batch", "-"], { input: batch });
    const peer = ["link set lo up", `addr add ${lan.peerIp}/24 dev eth0`, "link set eth0 up"].join("\n");
    await run("ip", ["-n", peerNetns, "-batch", "-"], { input: peer });
    await run(
      "dnsmasq",
      [
        "--interface=br0",
        "--bind-interfaces",
        "--except-interface=lo",
        "--port=0",
        "--no-ping",
        "--no-resolv",
        "--no-hosts",
        `--dhcp-range=${prefix}.${lan.rangeStart},${prefix}.${lan.rangeEnd},255.255.255.0,12h`,
        `--dhcp-leasefile=${join(dir, "dnsmasq.leases")}`,
        `--pid-file=${join(dir, "dnsmasq.pid")}`,
        `--log-facility=${join(dir, "dnsmasq.log")}`,
        "--log-dhcp",
      ],
      { netns },
    );
  } catch (error) {
    await lan.destroy();
    throw error;
  }
  return lan;
}

async function destroyTestLan(netns: string, peerNetns: string, dir: string): Promise<void> {
  const pid = Number((await readFile(join(dir, "dnsmasq.pid"), "utf8").catch(() => "")).trim());
  if (pid > 0) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const ns of [peerNetns, netns]) await run("ip", ["netns", "del", ns]).catch(() => undefined);
  await rm(join(dir, "dnsmasq.pid"), { force: true });
}

/** Whether ip is in the LAN's DHCP range. */
export function inDhcpRange(lan: TestLan, ip: string): boolean {
  if (!ip.startsWith(`${lan.prefix}.`)) return false;
  const last = Number(ip.slice(lan.prefix.length + 1));
  return last >= lan.rangeStart && last <= lan.rangeEnd;
}
