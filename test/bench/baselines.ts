import { join } from "node:path";
import type { MachineSpec } from "../../core/index.js";
import { hostConfigFromEnv } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { median, type Results } from "./results.js";

const NS = "gaol-bench-base";
const NS_PING = "gaol-bench-ping";

/** Until an ssh banner answers at ip:22 inside netns (the naive boot has no key the host knows). */
async function waitForBanner(ip: string, netns: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await run("bash", ["-c", 'exec 3<>"/dev/tcp/$0/22" && head -c 4 <&3', ip], { netns, timeoutMs: 3000 })
      .then((r) => r.stdout === "SSH-")
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ssh banner at ${ip}`);
}

/**
 * The same boot measured with the host library (no api) for gaol's startenv and the
 * baselines: the naive startenv, Debian's kernel, and dnsmasq with its default ping check.
 */
export async function benchBaselines(work: string, results: Results, runs = 5): Promise<void> {
  const owner = await createAccount("gaolbase", 1552);
  const lan = await createTestLan(NS, 42, join(work, "base-lan"));
  const pingLan = await createTestLan(NS_PING, 43, join(work, "ping-lan"), { ping: true });
  const hosts: Host[] = [];
  const hostOn = (netns: string, kernel?: string) => {
    const base = hostConfigFromEnv();
    const host = new Host(
      { ...base, bridge: "br0", netns, stateDir: join(work, `state-${netns}`), kernel: kernel ?? base.kernel },
      { bootTimeoutMs: 60_000 },
    );
    host.warmUp();
    hosts.push(host);
    return host;
  };
  let n = 0;
  /** ms from provision to READY (gaol's startenv) or to an ssh banner at the leased address (naive). */
  const timeBoot = async (host: Host, netns: string, spec: Partial<MachineSpec>, until: "ready" | "banner") => {
    const name = `base-${n++}`;
    const t = Date.now();
    let leased: (ip: string) => void = () => undefined;
    const lease = new Promise<string>((resolve) => {
      leased = resolve;
    });
    const handle = await host.provision({ name, owner: owner.name, ...spec }, (e) => {
      if (e.kind === "DhcpLeaseAcquired") leased(e.payload.ip);
    });
    try {
      if (until === "ready") await handle.ready;
      else await waitForBanner(await lease, netns, t + 60_000);
      return Date.now() - t;
    } finally {
      handle.ready.catch(() => undefined);
      await host.destroy(name).catch(() => undefined);
    }
  };
  const series = async (label: string, boot: () => Promise<number>) => {
    const samples: number[] = [];
    try {
      for (let i = 0; i < runs; i++) samples.push(await boot());
      results.set(label, median(samples), "ms");
      return median(samples);
    } catch (error) {
      results.set(label, `fails: ${(error as Error).message.split("\n")[0]?.slice(0, 100)}`);
      return undefined;
    }
  };

  try {
    const host = hostOn(NS);
    const gaol = await series("baseline: gaol startenv, provision → READY (library, median)", () =>
      timeBoot(host, NS, {}, "ready"),
    );
    const gaolBanner = await series("baseline: gaol startenv, provision → ssh banner", () =>
      timeBoot(host, NS, {}, "banner"),
    );
    const naive = await series("baseline: naive startenv, provision → ssh banner", () =>
      timeBoot(host, NS, { init: "/uml/bin/startenv-naive" }, "banner"),
    );
    if (gaolBanner && naive) results.set("  naive ÷ gaol (to the ssh banner)", naive / gaolBanner, "×");
    const debian = hostOn(NS, "/usr/bin/linux.uml");
    const debianMs = await series("baseline: Debian's linux.uml, provision → READY", () =>
      timeBoot(debian, NS, {}, "ready"),
    );
    if (gaol && debianMs) results.set("  Debian kernel ÷ gaol kernel", debianMs / gaol, "×");
    const pinged = await series("baseline: dnsmasq with its ping check, provision → READY", () =>
      timeBoot(hostOn(NS_PING), NS_PING, {}, "ready"),
    );
    if (gaol && pinged) results.set("  ping check ÷ --no-ping", pinged / gaol, "×");
  } finally {
    for (const host of hosts) for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await lan.destroy();
    await pingLan.destroy();
    await removeAccount(owner.name);
  }
}
