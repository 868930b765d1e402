import { run, succeeds } from "../../host/exec/run.js";
import {
  DHCP_RANGE,
  ensureIsolatedLan,
  type IsolatedLan,
  removeIsolatedLan,
  stopDhcpServer,
} from "../../host/network/lan.js";

/**
 * A LAN of the test's own: namespace `<name>` with bridge br0 at .1 and
 * dnsmasq serving DHCP on it, and namespace `<name>-peer`, another host on
 * the LAN at .2 through a veth. Nothing touches the host's own network.
 */
export interface TestLan {
  netns: string;
  peerNetns: string;
  bridge: string;
  prefix: string;
  gateway: string;
  peerIp: string;
  /** The fault "the LAN's DHCP server gone": dnsmasq killed. */
  stopDhcp(): Promise<void>;
  /** Makes again what of the LAN is gone (its bridge, with the peer on it; its DHCP server). */
  repair(): Promise<void>;
  destroy(): Promise<void>;
}

export async function createTestLan(
  name: string,
  subnet: number,
  dir: string,
  options: { ping?: boolean } = {},
): Promise<TestLan> {
  const prefix = `10.${200 + (subnet >> 8)}.${subnet & 255}`;
  const lan: IsolatedLan = { netns: name, bridge: "br0", prefix, dir, ping: options.ping };
  const peerNetns = `${name}-peer`;
  const destroy = async () => {
    await run("ip", ["netns", "del", peerNetns]).catch(() => undefined);
    await removeIsolatedLan(lan);
  };
  await destroy();
  try {
    await ensureIsolatedLan(lan);
    await run("ip", ["netns", "add", peerNetns]);
    await run("ip", ["link", "add", "veth-peer", "type", "veth", "peer", "name", "eth0", "netns", peerNetns], {
      netns: name,
    });
    await run("ip", ["link", "set", "veth-peer", "master", "br0", "up"], { netns: name });
    const peer = ["link set lo up", `addr add ${lan.prefix}.2/24 dev eth0`, "link set eth0 up"].join("\n");
    await run("ip", ["-batch", "-"], { netns: peerNetns, input: peer });
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    netns: name,
    peerNetns,
    bridge: "br0",
    prefix: lan.prefix,
    gateway: `${lan.prefix}.1`,
    peerIp: `${lan.prefix}.2`,
    stopDhcp: () => stopDhcpServer(lan),
    async repair() {
      // A bridge deleted under dnsmasq leaves it listening on nothing: it starts again with the bridge.
      if (!(await succeeds("ip", ["link", "show", "dev", "br0"], { netns: name }))) await stopDhcpServer(lan);
      await ensureIsolatedLan(lan);
      await run("ip", ["link", "set", "veth-peer", "master", "br0", "up"], { netns: name });
    },
    destroy,
  };
}

/** Whether ip is in the LAN's DHCP range. */
export function inDhcpRange(lan: TestLan, ip: string): boolean {
  if (!ip.startsWith(`${lan.prefix}.`)) return false;
  const last = Number(ip.slice(lan.prefix.length + 1));
  return last >= DHCP_RANGE.first && last <= DHCP_RANGE.last;
}

/** Whether a network device of that name exists (a tap left behind is a leak). */
export async function tapExists(name: string, netns?: string): Promise<boolean> {
  return succeeds("ip", ["link", "show", "dev", name], { netns, timeoutMs: 10_000 });
}
