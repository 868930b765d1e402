import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { MachineEvent } from "../../core/index.js";
import { LineSplitter, parseConsoleLine, parseFields } from "../../host/console/parse.js";

const bootLog = readFileSync(new URL("../fixtures/boot-console.log", import.meta.url), "utf8");

function typed(events: MachineEvent[]) {
  return events.filter((e) => e.kind !== "ConsoleOutput" && e.kind !== "BootStageReached");
}

describe("console parser", () => {
  it("turns a real boot log into console lines and typed events in order", () => {
    const events = bootLog.split("\n").flatMap(parseConsoleLine);
    expect(events.filter((e) => e.kind === "ConsoleOutput").length).toBe(bootLog.split("\n").length);
    const kinds = typed(events).map((e) => e.kind);
    expect(kinds).toEqual(["HomeMounted", "DhcpLeaseAcquired", "SshdStarted"]);
    const lease = events.find((e) => e.kind === "DhcpLeaseAcquired");
    expect(lease?.payload).toMatchObject({ mac: expect.stringMatching(/^02:/), leaseSeconds: 43200 });
    const stages = events.flatMap((e) => (e.kind === "BootStageReached" ? [e.payload.stage] : []));
    expect(stages).toEqual(["init", "entropy", "account", "home", "link", "lease", "sshd", "booted"]);
  });

  it("reads a failure stage as a failure with its reason", () => {
    const events = parseConsoleLine('gaol: stage=failed t=3.20 step=dhcp reason="dhclient got no lease"');
    expect(typed(events)).toEqual([
      { kind: "BootStepFailed", payload: { step: "dhcp", reason: "dhclient got no lease" } },
    ]);
  });

  it("keeps malformed stage lines as plain console output", () => {
    expect(typed(parseConsoleLine("gaol: stage=lease t=1 ip=999.1.1.1 mac=02:00:00:00:00:01"))).toEqual([]);
    expect(typed(parseConsoleLine("gaol: stage=lease t=1 ip=10.0.0.5 mac=nonsense"))).toEqual([]);
    expect(typed(parseConsoleLine("gaol: stage=home path=relative"))).toEqual([]);
    expect(typed(parseConsoleLine("someone said gaol: stage=lease ip=10.0.0.5"))).toEqual([]);
  });

  it("reads the lease gaol's kernel prints before init, its uptime from the printk time", () => {
    const line =
      "[    0.029000] gaol: stage=lease ip=10.200.45.238 mac=02:9b:d1:f1:c3:43 prefix=24 router=10.200.45.1 lease=0 by=kernel";
    const [, stage, lease] = parseConsoleLine(line);
    expect(stage).toEqual({ kind: "BootStageReached", payload: { stage: "lease", uptimeSeconds: 0.029 } });
    expect(lease).toEqual({ kind: "DhcpLeaseAcquired", payload: { ip: "10.200.45.238", mac: "02:9b:d1:f1:c3:43" } });
    expect(typed(parseConsoleLine("[    0.02] someone said gaol: stage=lease ip=10.0.0.5"))).toEqual([]);
  });

  it("warns when the kernel's DHCP client gets no answer, and says when it gave up", () => {
    const [retry] = typed(parseConsoleLine("[   10.120000] IP-Config: Reopening network devices..."));
    expect(retry).toMatchObject({ kind: "LeaseWarning", payload: { message: expect.stringContaining("no DHCP") } });
    expect(retry?.kind === "LeaseWarning" && retry.payload.gaveUp).toBeFalsy();
    const [gaveUp] = typed(parseConsoleLine("[   19.500000] IP-Config: Auto-configuration of network failed"));
    expect(gaveUp).toEqual({
      kind: "LeaseWarning",
      payload: {
        message: expect.stringContaining("GAOL_BRIDGE"),
        gaveUp: "IP-Config: Auto-configuration of network failed",
      },
    });
  });

  it("parses quoted fields and uptime", () => {
    expect(parseFields('a=1 b="x y" c=')).toEqual({ a: "1", b: "x y", c: "" });
    const [, stage] = parseConsoleLine("gaol: stage=init t=0.42 kernel=6.1.0-gaol");
    expect(stage).toEqual({ kind: "BootStageReached", payload: { stage: "init", uptimeSeconds: 0.42 } });
  });

  it("splits chunks into lines and keeps the unfinished tail", () => {
    const s = new LineSplitter();
    expect(s.push("one\ntw")).toEqual(["one"]);
    expect(s.push("o\nthree")).toEqual(["two"]);
    expect(s.flush()).toEqual(["three"]);
  });
});
