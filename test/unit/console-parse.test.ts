import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LineSplitter, parseConsoleLine, parseFields } from "../../host/console/parse.js";
import type { MachineEvent } from "../../host/events.js";

const bootLog = readFileSync(new URL("../fixtures/boot-console.log", import.meta.url), "utf8");

function typed(events: MachineEvent[]) {
  return events.filter((e) => e.kind !== "console" && e.kind !== "stage");
}

describe("console parser", () => {
  it("turns a real boot log into console lines and typed events in order", () => {
    const events = bootLog.split("\n").flatMap(parseConsoleLine);
    expect(events.filter((e) => e.kind === "console").length).toBe(bootLog.split("\n").length);
    const kinds = typed(events).map((e) => e.kind);
    expect(kinds).toEqual(["home", "lease", "sshd"]);
    const lease = events.find((e) => e.kind === "lease");
    expect(lease).toMatchObject({ kind: "lease", mac: expect.stringMatching(/^02:/), leaseSeconds: 43200 });
    const stages = events.flatMap((e) => (e.kind === "stage" ? [e.stage] : []));
    expect(stages).toEqual(["init", "entropy", "account", "home", "link", "lease", "sshd", "booted"]);
  });

  it("reads a failure stage as a failure with its reason", () => {
    const events = parseConsoleLine('gaol: stage=failed t=3.20 step=dhcp reason="dhclient got no lease"');
    expect(typed(events)).toEqual([{ kind: "failure", step: "dhcp", reason: "dhclient got no lease" }]);
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
    expect(stage).toMatchObject({ kind: "stage", stage: "lease", uptime: 0.029, fields: { by: "kernel" } });
    expect(lease).toEqual({ kind: "lease", ip: "10.200.45.238", mac: "02:9b:d1:f1:c3:43", leaseSeconds: undefined });
    expect(typed(parseConsoleLine("[    0.02] someone said gaol: stage=lease ip=10.0.0.5"))).toEqual([]);
  });

  it("parses quoted fields and uptime", () => {
    expect(parseFields('a=1 b="x y" c=')).toEqual({ a: "1", b: "x y", c: "" });
    const [, stage] = parseConsoleLine("gaol: stage=init t=0.42 kernel=6.1.0-gaol");
    expect(stage).toMatchObject({ kind: "stage", stage: "init", uptime: 0.42, fields: { kernel: "6.1.0-gaol" } });
  });

  it("splits chunks into lines and keeps the unfinished tail", () => {
    const s = new LineSplitter();
    expect(s.push("one\ntw")).toEqual(["one"]);
    expect(s.push("o\nthree")).toEqual(["two"]);
    expect(s.flush()).toEqual(["three"]);
  });
});
