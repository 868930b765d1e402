import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostConfigFromEnv, paths } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host, type MachineHandle } from "../../host/host.js";
import { ensureHost } from "../../host/setup/index.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { printOnFailure } from "../helpers/diagnose.js";
import { createTestLan, inDhcpRange, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// Guest root in A attacks the LAN for real; the assertions are what B, the gateway and another
// LAN host still see. Without port security each of these attacks worked (issue 13).
const NS = "gaol-t-portsec";
const WORK = "/var/lib/gaol-test/portsec";
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
const BB = "/uml/bin/busybox";

let lan: TestLan;
let host: Host;
let owner: TestAccount;
let ssh: SshClient;
const booted: string[] = [];

interface Booted {
  handle: MachineHandle;
  ip: string;
  mac: string;
}

async function boot(name: string): Promise<Booted> {
  booted.push(name);
  const handle = await host.provision({ name, owner: owner.name, sshPublicKeys: [ssh.publicKey] }, () => undefined);
  const ready = await handle.ready;
  return { handle, ip: ready.ip, mac: handle.record.mac };
}

function asRoot(m: Booted, command: string) {
  return ssh.exec("root", m.ip, command, m.handle.record.hostKeys);
}

/** The MAC a namespace's ARP cache holds for ip (after one ping, so that there is an entry). */
async function arpEntry(netns: string, ip: string): Promise<string | undefined> {
  const { stdout } = await run("ip", ["neigh", "show", ip], { netns });
  return /lladdr ([0-9a-f:]{17})/.exec(stdout)?.[1];
}

function ping(netns: string, ip: string) {
  return run("ping", ["-c", "1", "-W", "1", ip], { netns }).then(
    () => true,
    () => false,
  );
}

/** Packets the rule against DHCP server replies from machines has dropped so far. */
async function droppedDhcpReplies(): Promise<number> {
  const { stdout } = await run("nft", ["list", "chain", "bridge", "gaol", "ip_from_machine"], { netns: NS });
  return Number(/udp sport 67 counter packets (\d+)/.exec(stdout)?.[1] ?? 0);
}

/**
 * Runs a guest command detached, then undoes it; meanwhile looks every 200 ms for 4 s and
 * returns every distinct thing it saw (ARP entries, say), so a moment of success counts.
 */
async function attack(m: Booted, script: string, undo: string, look: () => Promise<unknown>): Promise<Set<unknown>> {
  // The pause lets this ssh session end before the attack takes A's link down under it.
  await asRoot(m, `setsid sh -c 'sleep 0.5; ${script}; sleep 1; ${undo}' </dev/null >/dev/null 2>&1 &`);
  const seen = new Set<unknown>();
  for (let i = 0; i < 20; i++) {
    seen.add(await look());
    await new Promise((r) => setTimeout(r, 200));
  }
  return seen;
}

beforeAll(async () => {
  await ensureHost(config, (line) => console.log(`setup: ${line}`));
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  lan = await createTestLan(NS, 37, join(WORK, "lan"));
  owner = await createAccount("gaoltport", 1595);
  ssh = await createSshClient(join(WORK, "client"), NS);
  host = new Host(config, { bootTimeoutMs: 120_000 });
  host.warmUp();
});

afterAll(async () => {
  for (const name of booted) await host?.destroy(name).catch(() => undefined);
  await lan?.destroy();
  await removeAccount("gaoltport");
  await rm(WORK, { recursive: true, force: true });
});

printOnFailure(async () => {
  const { stdout } = await run("nft", ["list", "table", "bridge", "gaol"], { netns: NS }).catch(() => ({
    stdout: "",
  }));
  console.log(stdout);
  return [...booted.map((name) => join(paths.machine(config, name), "console.log")), join(WORK, "lan", "dnsmasq.log")];
});

describe("port security against guest root", () => {
  let a: Booted;
  let b: Booted;

  it("boots two machines behind their taps' rules", async () => {
    [a, b] = await Promise.all([boot("t-port-a"), boot("t-port-b")]);
    expect(await ping(lan.peerNetns, b.ip)).toBe(true);
    expect(await ping(lan.peerNetns, lan.gateway)).toBe(true);
    // The caches the attacks aim at, as they are before.
    expect(await arpEntry(lan.peerNetns, b.ip)).toBe(b.mac);
    expect(await arpEntry(NS, b.ip)).toBe(b.mac);
  });

  it("keeps B's address B's when A claims it and sends gratuitous ARP", async () => {
    const seen = await attack(
      a,
      `ip addr add ${b.ip}/32 dev eth0; ${BB} arping -U -c 4 -w 4 -I eth0 -s ${b.ip} ${b.ip}`,
      `ip addr del ${b.ip}/32 dev eth0`,
      async () =>
        [await arpEntry(lan.peerNetns, b.ip), await arpEntry(NS, b.ip), await ping(lan.peerNetns, b.ip)].join(),
    );
    expect([...seen]).toEqual([[b.mac, b.mac, true].join()]);
    expect(await asRoot(b, "echo still-b")).toBe("still-b");
  });

  it("keeps the gateway the gateway when A claims its address", async () => {
    const gatewayMac = await arpEntry(lan.peerNetns, lan.gateway);
    expect(gatewayMac).toBeDefined();
    const seen = await attack(
      a,
      `ip addr add ${lan.gateway}/32 dev eth0; ${BB} arping -U -c 4 -w 4 -I eth0 -s ${lan.gateway} ${lan.gateway}`,
      `ip addr del ${lan.gateway}/32 dev eth0`,
      () => arpEntry(lan.peerNetns, lan.gateway),
    );
    expect([...seen]).toEqual([gatewayMac]);
  });

  it("gives a new machine its lease from the LAN's server while A runs a DHCP server", async () => {
    // A rogue range outside the LAN's (.10–.250), with A as the router.
    const conf = [
      `start ${lan.prefix}.3`,
      `end ${lan.prefix}.9`,
      "interface eth0",
      `opt router ${a.ip}`,
      "lease_file /tmp/rogue.leases",
    ].join("\\n");
    await asRoot(
      a,
      `printf '${conf}\\n' > /tmp/rogue.conf && touch /tmp/rogue.leases && (setsid ${BB} udhcpd -f /tmp/rogue.conf </dev/null >/tmp/rogue.log 2>&1 &)`,
    );
    expect(await asRoot(a, `${BB} ps | grep -c '[u]dhcpd -f'`)).toBe("1");
    const c = await boot("t-port-c");
    expect(inDhcpRange(lan, c.ip)).toBe(true);
    const route = await asRoot(c, "ip route show default");
    expect(route).toContain(`via ${lan.gateway}`);
    // The rogue server did answer (after its own ARP check of the address): its offers are what
    // the tap's rule dropped.
    let dropped = 0;
    for (let i = 0; i < 50 && dropped === 0; i++) {
      dropped = await droppedDhcpReplies();
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(dropped).toBeGreaterThan(0);
  });

  // Last of A's attacks: a link flapped twice may leave A's own network down for a while.
  it("does not move B's MAC to A's tap when A forges it", async () => {
    const fdbPort = async () => {
      const { stdout } = await run("bridge", ["fdb", "show", "br", "br0"], { netns: NS });
      return /dev (\S+)/.exec(stdout.split("\n").find((line) => line.startsWith(`${b.mac} `)) ?? "")?.[1];
    };
    const seen = await attack(
      a,
      // UML's NIC takes a new MAC only while down.
      `ip link set eth0 down; ip link set eth0 address ${b.mac}; ip link set eth0 up; ${BB} arping -U -c 4 -w 4 -I eth0 -s ${a.ip} ${a.ip}`,
      `ip link set eth0 down; ip link set eth0 address ${a.mac}; ip link set eth0 up; ip route add default via ${lan.gateway}`,
      fdbPort,
    );
    expect([...seen]).toEqual([b.handle.record.tap]);
    expect(await ping(lan.peerNetns, b.ip)).toBe(true);
    expect(await arpEntry(lan.peerNetns, b.ip)).toBe(b.mac);
  });

  it("removes a machine's rules with the machine", async () => {
    await host.destroy("t-port-b");
    const { stdout } = await run("nft", ["list", "table", "bridge", "gaol"], { netns: NS });
    expect(stdout).not.toContain(b.handle.record.tap);
    expect(stdout).toContain(a.handle.record.tap);
  });

  it("makes the table again for a new machine when it vanished under the host", async () => {
    await run("nft", ["delete", "table", "bridge", "gaol"], { netns: NS });
    const d = await boot("t-port-d");
    const { stdout } = await run("nft", ["list", "table", "bridge", "gaol"], { netns: NS });
    expect(stdout).toContain(d.handle.record.tap);
    expect(stdout).toContain("udp sport 67 counter");
  });
});
