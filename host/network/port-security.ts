import { run } from "../exec/run.js";

/**
 * Port security on the machines' taps, as nftables' bridge family in the LAN's namespace
 * (Incus's security.mac_filtering and ipv4_filtering): a frame from a machine's tap carries
 * its own MAC; its ARP and IPv4 carry its proven address (only DHCP's discover and request
 * before that); it never answers as a DHCP server; anything else (IPv6, VLANs, other
 * ethertypes) is dropped. Frames from ports gaol did not make are never looked at.
 */
const TABLE = "gaol";

const RULESET = [
  `add table bridge ${TABLE}`,
  `add set bridge ${TABLE} taps { type ifname; }`,
  `add set bridge ${TABLE} macs { type ifname . ether_addr; }`,
  `add set bridge ${TABLE} addresses { type ifname . ipv4_addr; }`,
  // Before the bridge learns the source MAC, so a forged one moves nothing in its table.
  `add chain bridge ${TABLE} prerouting { type filter hook prerouting priority -200; policy accept; }`,
  ...["from_machine", "arp_from_machine", "ip_from_machine"].map((chain) => `add chain bridge ${TABLE} ${chain}`),
  // Rules are rewritten whole in the same transaction; the sets (what the machines hold) are kept.
  ...["prerouting", "from_machine", "arp_from_machine", "ip_from_machine"].map(
    (chain) => `flush chain bridge ${TABLE} ${chain}`,
  ),
  `add rule bridge ${TABLE} prerouting iifname @taps jump from_machine`,
  `add rule bridge ${TABLE} from_machine iifname . ether saddr != @macs counter drop`,
  `add rule bridge ${TABLE} from_machine ether type arp jump arp_from_machine`,
  `add rule bridge ${TABLE} from_machine ether type ip jump ip_from_machine`,
  `add rule bridge ${TABLE} from_machine counter drop`,
  `add rule bridge ${TABLE} arp_from_machine iifname . arp saddr ether != @macs counter drop`,
  // An ARP probe (sender 0.0.0.0) checks an address without claiming it.
  `add rule bridge ${TABLE} arp_from_machine arp saddr ip 0.0.0.0 accept`,
  `add rule bridge ${TABLE} arp_from_machine iifname . arp saddr ip @addresses accept`,
  `add rule bridge ${TABLE} arp_from_machine counter drop`,
  `add rule bridge ${TABLE} ip_from_machine udp sport 67 counter drop`,
  `add rule bridge ${TABLE} ip_from_machine ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept`,
  `add rule bridge ${TABLE} ip_from_machine iifname . ip saddr @addresses accept`,
  `add rule bridge ${TABLE} ip_from_machine counter drop`,
].join("\n");

const TAP = /^gt[0-9a-f]{10}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A dotted IPv4 address and nothing else: it is written into an nft script. */
export function isIpv4(ip: string): boolean {
  const parts = ip.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function check(tap: string, mac?: string, ip?: string): void {
  if (!TAP.test(tap) || (mac !== undefined && !MAC.test(mac)) || (ip !== undefined && !isIpv4(ip))) {
    throw new Error(`bad port security request ${JSON.stringify({ tap, mac, ip })}`);
  }
}

function nft(script: string, netns?: string) {
  return run("nft", ["-f", "-"], { netns, input: `${script}\n`, timeoutMs: 10_000 });
}

const ensured = new Map<string, Promise<unknown>>();

/** The table, its sets and its rules in the namespace (idempotent; once per agent and namespace). */
export function ensurePortSecurity(netns?: string): Promise<unknown> {
  const key = netns ?? "";
  let done = ensured.get(key);
  if (!done) {
    done = nft(RULESET, netns);
    done.catch(() => ensured.delete(key));
    ensured.set(key, done);
  }
  return done;
}

/** The tap's frames are checked from now on; only its own MAC passes (no address yet). */
export async function guardTap(tap: string, mac: string, netns?: string): Promise<void> {
  check(tap, mac);
  const add = [`add element bridge ${TABLE} taps { ${tap} }`, `add element bridge ${TABLE} macs { ${tap} . ${mac} }`];
  await ensurePortSecurity(netns);
  // The table can vanish under a running agent (its namespace remade, the ruleset flushed): make it again once.
  await nft(add.join("\n"), netns).catch(async () => {
    ensured.delete(netns ?? "");
    await ensurePortSecurity(netns);
    await nft(add.join("\n"), netns);
  });
}

/** The machine's proven address passes from its tap; the one it had before does not. */
export async function allowAddress(tap: string, ip: string, previous: string | undefined, netns?: string) {
  check(tap, undefined, ip);
  if (previous && previous !== ip) await forget(`addresses { ${tap} . ${previous} }`, tap, previous, netns);
  await nft(`add element bridge ${TABLE} addresses { ${tap} . ${ip} }`, netns);
}

async function forget(element: string, tap: string, ip: string | undefined, netns?: string) {
  check(tap, undefined, ip);
  // An element that is not there (a crash between steps, a second teardown) is already forgotten.
  await nft(`delete element bridge ${TABLE} ${element}`, netns).catch(() => undefined);
}

/** Forgets the tap (at teardown, once the tap is gone). */
export async function unguardTap(tap: string, mac: string, address: string | undefined, netns?: string) {
  check(tap, mac);
  await forget(`taps { ${tap} }`, tap, undefined, netns);
  await forget(`macs { ${tap} . ${mac} }`, tap, undefined, netns);
  if (address) await forget(`addresses { ${tap} . ${address} }`, tap, address, netns);
}
