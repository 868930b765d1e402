import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseConsoleLine } from "../../host/console/parse.js";
import { run } from "../../host/exec/run.js";
import { tempDir } from "../helpers/temp-dir.js";

const guest = fileURLToPath(new URL("../../host/guest/", import.meta.url));
const procFixture = fileURLToPath(new URL("../fixtures/proc/", import.meta.url));

/** Runs one shell function of startenv (with its helpers) and then `after`, in a shell of its own. */
async function runStartenvFunction(name: string, after: string, env: Record<string, string>) {
  const script = await readFile(join(guest, "startenv"), "utf8");
  const fn = new RegExp(`^${name}\\(\\) \\{[\\s\\S]*?^\\}$`, "m").exec(script)?.[0];
  if (!fn) throw new Error(`startenv has no ${name}()`);
  return run("sh", ["-c", `${fn}\n${after}`], { env: { PATH: process.env.PATH ?? "", ...env } });
}

describe("startenv's stage lines", () => {
  it("every stage startenv prints is one the parser reads", async () => {
    const script = await readFile(join(guest, "startenv"), "utf8");
    const stageFn = /^stage\(\) \{[\s\S]*?^\}$/m.exec(script)?.[0];
    expect(stageFn).toBeDefined();
    const calls = [...script.matchAll(/^\s*(?:.*&& )?stage (\w+)( ".*")?$/gm)].map((m) => m[0].trim());
    expect(calls.length).toBeGreaterThanOrEqual(6);
    const UML_USER = "ann";
    const env = { UML_USER, UML_UID: "1501", UML_GID: "1501", UML_HOME: "/home/ann", mac: "02:aa:bb:cc:dd:ee" };
    const body = `${stageFn}\nrelease=6.1.0-gaol\n${calls.map((c) => c.replace(/^.*&& /, "")).join("\n")}\n`;
    const { stdout } = await run("sh", ["-c", body], { env: { ...env, PATH: process.env.PATH ?? "" } });
    for (const line of stdout.split("\n")) {
      const events = parseConsoleLine(line);
      expect(events[1], line).toMatchObject({ kind: "BootStageReached" });
    }
    expect(stdout).toContain("gaol: stage=home t=");
    expect(parseConsoleLine(stdout.split("\n").find((l) => l.includes("stage=home")) ?? "")).toContainEqual({
      kind: "HomeMounted",
      payload: { path: "/home/ann" },
    });
  });

  it("the DHCP hook configures eth0 and prints a lease line for dhclient, dhcpcd and udhcpc", async () => {
    const dir = await tempDir("gaol-hook");
    await mkdir(join(dir, "bin"));
    // A fake `ip` records what the hook asked for.
    await writeFile(join(dir, "bin", "ip"), `#!/bin/sh\ncat >> ${dir}/ip-batch\n`);
    await chmod(join(dir, "bin", "ip"), 0o755);
    await mkdir(join(dir, "sys", "class", "net", "eth0"), { recursive: true });
    await writeFile(join(dir, "sys", "class", "net", "eth0", "address"), "02:aa:bb:cc:dd:ee\n");
    // A fake busybox too: dhclient's and dhcpcd's events go through `ip -batch`, udhcpc's first lease through busybox.
    await writeFile(
      join(dir, "bin", "busybox"),
      `#!/bin/sh
echo "busybox $*" >> ${dir}/busybox-calls
`,
    );
    await chmod(join(dir, "bin", "busybox"), 0o755);
    const base = {
      PATH: `${dir}/bin:/usr/bin:/bin`,
      GAOL_CONSOLE: join(dir, "console"),
      GAOL_SYSFS: join(dir, "sys"),
      GAOL_BUSYBOX: join(dir, "bin", "busybox"),
    };
    const hook = join(guest, "dhcp-hook");
    const clients: Array<{ env: Record<string, string>; args: string[] }> = [
      {
        env: {
          reason: "BOUND",
          new_ip_address: "10.9.0.7",
          new_subnet_mask: "255.255.255.0",
          new_routers: "10.9.0.1",
          new_dhcp_lease_time: "600",
        },
        args: [],
      },
      {
        env: {
          reason: "BOUND",
          new_ip_address: "10.9.0.8",
          new_subnet_cidr: "24",
          new_routers: "10.9.0.1",
          new_dhcp_lease_time: "600",
        },
        args: [],
      },
      { env: { ip: "10.9.0.9", subnet: "255.255.0.0", router: "10.9.0.1", lease: "600" }, args: ["bound"] },
    ];
    for (const client of clients) await run("sh", [hook, ...client.args], { env: { ...base, ...client.env } });
    const batch = await readFile(join(dir, "ip-batch"), "utf8");
    expect(batch).toContain("addr replace 10.9.0.7/24 dev eth0");
    expect(batch).toContain("addr replace 10.9.0.8/24 dev eth0");
    expect(batch).toContain("route replace default via 10.9.0.1 dev eth0");
    const busybox = await readFile(join(dir, "busybox-calls"), "utf8");
    expect(busybox).toContain("busybox ip addr add 10.9.0.9/16 dev eth0");
    expect(busybox).toContain("busybox ip route replace default via 10.9.0.1 dev eth0");
    const leases = (await readFile(join(dir, "console"), "utf8"))
      .trim()
      .split("\n")
      .flatMap(parseConsoleLine)
      .filter((e) => e.kind === "DhcpLeaseAcquired");
    expect(leases.map((e) => e.kind === "DhcpLeaseAcquired" && e.payload.ip)).toEqual([
      "10.9.0.7",
      "10.9.0.8",
      "10.9.0.9",
    ]);
  });

  it("reads the kernel's DHCP lease and name servers back from /proc without running a program", async () => {
    const dir = await tempDir("gaol-lease");
    const { stdout } = await runStartenvFunction("kernel_lease", 'kernel_lease && echo "$ip $prefix $router"', {
      GAOL_PROC: procFixture,
    });
    expect(stdout).toBe("10.200.45.92 24 10.200.45.1");
    const resolv = join(dir, "resolv.conf");
    await runStartenvFunction("kernel_dns", "kernel_dns", { GAOL_PROC: procFixture, GAOL_RESOLV: resolv });
    expect(await readFile(resolv, "utf8")).toBe("search lan.example\nnameserver 10.200.45.1\n");
    // Only loopback: no kernel lease, so startenv runs a DHCP client instead.
    const loopbackOnly = join(dir, "proc");
    await mkdir(join(loopbackOnly, "net"), { recursive: true });
    const trie = "Local:\n  +-- 127.0.0.0/8 2 0 2\n     |-- 127.0.0.1\n        /32 host LOCAL\n";
    await writeFile(join(loopbackOnly, "net", "fib_trie"), trie);
    await writeFile(join(loopbackOnly, "net", "route"), "");
    const none = await runStartenvFunction("kernel_lease", 'kernel_lease && echo "$ip" || echo none', {
      GAOL_PROC: loopbackOnly,
    });
    expect(none.stdout).toBe("none");
  });

  it("the DHCP hook keeps the kernel's address when the client renews it, and replaces it when the server moves it", async () => {
    const dir = await tempDir("gaol-hook");
    await mkdir(join(dir, "bin"));
    await writeFile(join(dir, "bin", "busybox"), `#!/bin/sh\necho "busybox $*" >> ${dir}/busybox-calls\n`);
    await chmod(join(dir, "bin", "busybox"), 0o755);
    await mkdir(join(dir, "sys", "class", "net", "eth0"), { recursive: true });
    await writeFile(join(dir, "sys", "class", "net", "eth0", "address"), "02:aa:bb:cc:dd:ee\n");
    const env = {
      PATH: "/usr/bin:/bin",
      GAOL_CONSOLE: join(dir, "console"),
      GAOL_SYSFS: join(dir, "sys"),
      GAOL_BUSYBOX: join(dir, "bin", "busybox"),
      GAOL_KERNEL_IP: "10.9.0.9",
      subnet: "255.255.255.0",
      router: "10.9.0.1",
      lease: "600",
    };
    await run("sh", [join(guest, "dhcp-hook"), "bound"], { env: { ...env, ip: "10.9.0.9" } });
    const calls = () => readFile(join(dir, "busybox-calls"), "utf8").catch(() => "");
    expect(await calls()).not.toContain(" ip ");
    await run("sh", [join(guest, "dhcp-hook"), "bound"], { env: { ...env, ip: "10.9.0.10" } });
    expect((await calls()).split("\n").filter((l) => l.includes(" ip "))).toEqual([
      "busybox ip addr flush dev eth0",
      "busybox ip addr add 10.9.0.10/24 dev eth0",
      "busybox ip route replace default via 10.9.0.1 dev eth0",
    ]);
    const leases = (await readFile(join(dir, "console"), "utf8")).trim().split("\n").flatMap(parseConsoleLine);
    // The renewal is no news to the agent; the move is.
    const moved = leases.flatMap((e) => (e.kind === "DhcpLeaseAcquired" ? [e.payload.ip] : []));
    expect(moved).toEqual(["10.9.0.10"]);
  });

  it("ignores DHCP events that are not a lease", async () => {
    const dir = await tempDir("gaol-hook");
    await run("sh", [join(guest, "dhcp-hook")], {
      env: { reason: "PREINIT", PATH: "/usr/bin:/bin", GAOL_CONSOLE: join(dir, "console"), GAOL_BUSYBOX: "" },
    });
    await expect(readFile(join(dir, "console"), "utf8")).rejects.toThrow();
  });
});
