import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError, validateSpec } from "../../core/index.js";
import { HostCommandError } from "../../host/exec/error.js";
import { commandLine, run } from "../../host/exec/run.js";
import { parseAptSources, pickDebianMirror } from "../../host/image/mirror.js";
import { checkConfig } from "../../host/kernel/build.js";
import { featuresOf } from "../../host/kernel/features.js";
import { describeKey, generateHostKey } from "../../host/keys/hostkeys.js";
import { macFromId, tapNameFromId } from "../../host/network/identity.js";
import { parsePasswdLine } from "../../host/owner/account.js";
import { Reverter, undoFailuresOf } from "../../host/reverter.js";
import { kernelArgs } from "../../host/uml/cmdline.js";
import { tempDir } from "../helpers/temp-dir.js";

describe("machine spec validation", () => {
  it("accepts a good spec and fills defaults", () => {
    expect(validateSpec({ name: "lab-1", owner: "ann" })).toEqual({
      id: "lab-1",
      name: "lab-1",
      owner: "ann",
      image: "debian",
      imageVersion: undefined,
      memoryMiB: 256,
      sshPublicKeys: [],
      init: "/uml/bin/startenv",
      limits: {},
    });
  });

  it("takes limits only within their bounds, naming each bad one", () => {
    expect(validateSpec({ name: "lab-1", owner: "ann", limits: { processes: 64, cpuPercent: 50 } }).limits).toEqual({
      processes: 64,
      cpuPercent: 50,
    });
    const bad = () => validateSpec({ name: "lab-1", owner: "ann", limits: { processes: 1e9, cpuWeight: 500 } });
    expect(bad).toThrow(/limits\.processes: must be an integer from 32 to 4096/);
    expect(bad).toThrow(/limits\.cpuWeight: must be an integer from 1 to 100/);
  });

  it("boots only gaol's own programs as init, and only real version numbers", () => {
    expect(() => validateSpec({ name: "x", owner: "ann", init: "/bin/sh" })).toThrow(/init/);
    expect(() => validateSpec({ name: "x", owner: "ann", imageVersion: 0 })).toThrow(/imageVersion/);
    expect(validateSpec({ name: "x", owner: "ann", init: "/uml/bin/startenv-naive", imageVersion: 3 })).toMatchObject({
      init: "/uml/bin/startenv-naive",
      imageVersion: 3,
    });
  });

  it("names every bad field at once", () => {
    try {
      validateSpec({ name: "Bad_Name", owner: "", memoryMiB: 10 ** 7, image: "../x", sshPublicKeys: ["nope"] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields.map((f) => f.field).sort()).toEqual(
        ["image", "memoryMiB", "name", "owner", "sshPublicKeys.0"].sort(),
      );
    }
  });

  it("refuses names longer than 32 characters", () => {
    expect(() => validateSpec({ name: "a".repeat(33), owner: "ann" })).toThrow(ValidationError);
  });
});

describe("identity derived from the machine id", () => {
  it("gives a stable locally administered unicast MAC", () => {
    const mac = macFromId("machine-1");
    expect(mac).toBe(macFromId("machine-1"));
    expect(mac).not.toBe(macFromId("machine-2"));
    expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
  });

  it("gives tap names within the kernel's 15 characters", () => {
    expect(tapNameFromId("x".repeat(100)).length).toBeLessThanOrEqual(15);
    expect(tapNameFromId("a")).not.toBe(tapNameFromId("b"));
  });
});

describe("host keys", () => {
  it("computes the same SHA256 fingerprint as ssh-keygen", async () => {
    const dir = await tempDir("gaol-key");
    const key = await generateHostKey(dir, "test");
    const { stdout } = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", join(dir, "ssh_host_ed25519_key.pub")]);
    expect(stdout.split(" ")[1]).toBe(key.fingerprintSha256);
    expect(describeKey(await readFile(join(dir, "ssh_host_ed25519_key.pub"), "utf8")).type).toBe("ssh-ed25519");
  });

  it("writes a private key OpenSSH reads back to the same public key, readable by its owner only", async () => {
    const dir = await tempDir("gaol-key");
    const key = await generateHostKey(dir, "root@m1");
    const { stdout } = await run("ssh-keygen", ["-y", "-f", join(dir, "ssh_host_ed25519_key")]);
    expect(stdout.trim()).toBe(`${key.publicKey} root@m1`);
    expect((await stat(join(dir, "ssh_host_ed25519_key"))).mode & 0o777).toBe(0o600);
    const other = await generateHostKey(await tempDir("gaol-key"), "root@m2");
    expect(other.publicKey).not.toBe(key.publicKey);
  });
});

describe("apt sources", () => {
  it("finds the Debian mirror in deb822 and one-line sources, skipping security", () => {
    const deb822 = `Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n`;
    expect(pickDebianMirror(parseAptSources(deb822), "bookworm")).toBe("http://mirror.example/debian");
    const oneLine = "# comment\ndeb [arch=amd64] http://other.example/debian bookworm main contrib\n";
    expect(pickDebianMirror(parseAptSources(oneLine), "bookworm")).toBe("http://other.example/debian");
    expect(pickDebianMirror(parseAptSources(oneLine), "trixie")).toBeUndefined();
  });
});

describe("host commands", () => {
  it("wraps namespace and identity around the command, never a shell", () => {
    expect(commandLine("linux", ["mem=256M"], { netns: "lan", asUser: { uid: 1501, gid: 1501 } })).toEqual([
      "ip",
      "netns",
      "exec",
      "lan",
      "setpriv",
      "--reuid=1501",
      "--regid=1501",
      "--init-groups",
      "--",
      "linux",
      "mem=256M",
    ]);
  });

  it("reports a failed command with its exit code and stderr", async () => {
    const error = await run("sh", ["-c", "echo oops >&2; exit 3"]).catch((e) => e);
    expect(error).toBeInstanceOf(HostCommandError);
    expect(error).toMatchObject({ exitCode: 3, stderrTail: "oops", timedOut: false });
    // The underlying execa error stays reachable for whoever needs all of it.
    expect((error as Error).cause).toMatchObject({ exitCode: 3, stderr: "oops" });
  });

  it("reports a timeout as one", async () => {
    const error = await run("sleep", ["5"], { timeoutMs: 100 }).catch((e) => e);
    expect(error).toMatchObject({ timedOut: true });
  });

  it("passes input containing shell syntax as data", async () => {
    const { stdout } = await run("echo", ["$(id)", ";", "rm -rf /"]);
    expect(stdout).toBe("$(id) ; rm -rf /");
  });
});

describe("reverter", () => {
  it("undoes completed steps newest first when a later step fails", async () => {
    const undone: string[] = [];
    await expect(
      Reverter.run(async (r) => {
        r.add("one", () => void undone.push("one"));
        r.add("two", () => void undone.push("two"));
        throw new Error("step three failed");
      }),
    ).rejects.toThrow("step three failed");
    expect(undone).toEqual(["two", "one"]);
  });

  it("reports an undo that failed with the original error, and still runs the others", async () => {
    const undone: string[] = [];
    class StepFailed extends Error {}
    const error = await Reverter.run(async (r) => {
      r.add("the disk", () => void undone.push("disk"));
      r.add("the tap", () => {
        throw new Error("device busy");
      });
      throw new StepFailed("kernel did not start");
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailed);
    expect((error as Error).message).toMatch(
      /^kernel did not start; undoing it failed too \(undo the tap: device busy\)$/,
    );
    expect(undoFailuresOf(error).map((e) => e.message)).toEqual(["undo the tap: device busy"]);
    expect(undone).toEqual(["disk"]);
  });

  it("keeps everything on success", async () => {
    const undone: string[] = [];
    await Reverter.run(async (r) => r.add("one", () => void undone.push("one")));
    expect(undone).toEqual([]);
  });
});

describe("accounts and kernel arguments", () => {
  it("parses passwd lines", () => {
    expect(parsePasswdLine("ann:x:1501:1501:Ann:/home/ann:/bin/bash")).toEqual({
      name: "ann",
      uid: 1501,
      gid: 1501,
      home: "/home/ann",
    });
  });

  it("passes machine facts as KEY=value words", () => {
    const args = kernelArgs({
      umid: "m-1",
      umlDir: "/s/m/uml",
      memoryMiB: 256,
      ubd: "/uml/gaols/m.img",
      tap: "gt1",
      mac: "02:00:00:00:00:01",
      hostname: "m",
      owner: { name: "ann", uid: 1501, gid: 1501, home: "/home/ann" },
      guestConfigDir: "/s/m/guest",
    });
    expect(args).toContain("UML_UID=1501");
    expect(args).toContain("init=/uml/bin/startenv");
    expect(args).toContain("eth0=tuntap,gt1,02:00:00:00:00:01");
    const spec = { umid: "m-1", umlDir: "/u", memoryMiB: 256, ubd: "/d", tap: "gt1", mac: "02:00:00:00:00:01" };
    const owner = { name: "ann", uid: 1501, gid: 1501, home: "/home/ann" };
    const vector = kernelArgs({ ...spec, hostname: "m", owner, guestConfigDir: "/g", tapTransport: "vector" });
    expect(vector).toContain("vec0:transport=tap,ifname=gt1,mac=02:00:00:00:00:01");
    expect(vector.filter((a) => a.startsWith("eth0="))).toEqual([]);
  });

  it("reads a kernel's DHCP and tap transport from its config", () => {
    expect(featuresOf("CONFIG_UML_NET_TUNTAP=y\nCONFIG_UML_NET_VECTOR=y\nCONFIG_IP_PNP_DHCP=y\n")).toEqual({
      dhcp: true,
      tapTransport: "tuntap",
    });
    expect(featuresOf("CONFIG_UML_NET_VECTOR=y\n# CONFIG_IP_PNP_DHCP is not set\n")).toEqual({
      dhcp: false,
      tapTransport: "vector",
    });
  });

  it("notices a kernel config line olddefconfig dropped", async () => {
    await expect(checkConfig("CONFIG_A=y\n", "CONFIG_A=y\nCONFIG_B=y\n")).rejects.toThrow("CONFIG_B=y");
    await expect(checkConfig("CONFIG_A=y\n", "# CONFIG_C is not set\nCONFIG_A=y\n")).resolves.toBeUndefined();
  });
});
