import { type GraphQLObjectType, isNonNullType } from "graphql";
import { describe, expect, it } from "vitest";
import {
  canReach,
  canTransition,
  changesOf,
  checkQuota,
  choosePlacement,
  IMAGE_EVENTS,
  type KindSpec,
  MACHINE_EVENTS,
  MACHINE_STATES,
  machineEvent,
  NoCapacityError,
  parseMachineEvent,
  QuotaExceededError,
  stateChanged,
  TRANSITIONS,
  ValidationError,
  validateProvision,
  validateSpec,
} from "../../core/index.js";
import { schema } from "../../schema/index.js";

const fieldsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.fields.map((f) => f.field);
    throw error;
  }
  return [];
};

describe("machine states", () => {
  it("has a row for every state, and DESTROYED is final", () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...MACHINE_STATES].sort());
    for (const next of Object.values(TRANSITIONS).flat()) expect(MACHINE_STATES).toContain(next);
    for (const state of MACHINE_STATES) expect(canTransition("DESTROYED", state)).toBe(false);
    expect(canTransition("BOOTING", "READY")).toBe(true);
    expect(canTransition("PENDING", "READY")).toBe(false);
  });

  it("reaches PROVISIONING again only from a boot being made again, never after FAILED or READY", () => {
    expect(canReach("BOOTING", "PROVISIONING")).toBe(true);
    expect(canReach("RUNNING", "PROVISIONING")).toBe(true);
    expect(canReach("LOST", "PROVISIONING")).toBe(true);
    // A stale list saying PROVISIONING must not undo a FAILED the agent reported (faults.test.ts found it).
    for (const from of ["FAILED", "READY", "STOPPING", "DESTROYED"] as const)
      expect(canReach(from, "PROVISIONING")).toBe(false);
  });

  it("applies what an allowed event changes on the row, and nothing for one the table refuses", () => {
    const at = new Date("2026-12-01T00:00:00Z");
    const healthy = { health: "HEALTHY", healthSince: at, healthReason: null };
    expect(changesOf("RUNNING", stateChanged("READY"), at)).toEqual({
      state: "READY",
      stateReason: null,
      readyAt: at,
      ...healthy,
    });
    expect(changesOf("READY", stateChanged("DESTROYED", "gone"), at)).toEqual({
      state: "DESTROYED",
      stateReason: "gone",
      destroyedAt: at,
      ...healthy,
    });
    expect(changesOf("PENDING", stateChanged("READY"), at)).toEqual({});
    expect(changesOf("DESTROYED", stateChanged("READY"), at)).toEqual({});
    const ready = machineEvent("SshReady", { ip: "10.0.0.5", port: 22, hostKeys: [] });
    expect(changesOf("DESTROYED", ready, at)).toEqual({});
    expect(changesOf("RUNNING", ready, at)).toEqual({ ipAddress: "10.0.0.5", sshHostKeys: [], ...healthy });
    // A lease alone never gives the machine its address: the guest printed it.
    const lease = machineEvent("DhcpLeaseAcquired", { ip: "10.0.0.6", mac: "02:00:00:00:00:01" });
    expect(changesOf("BOOTING", lease, at)).toEqual({ macAddress: "02:00:00:00:00:01" });
  });

  it("marks only a READY machine unresponsive, and healthy again on an answer, a new proof or a new state", () => {
    const at = new Date("2026-12-01T00:01:00Z");
    const since = "2026-12-01T00:00:00.000Z";
    const unresponsive = machineEvent("MachineUnresponsive", { reason: "no answer within 3 s", failures: 3, since });
    expect(changesOf("READY", unresponsive, at)).toEqual({
      health: "UNRESPONSIVE",
      healthSince: new Date(since),
      healthReason: "no answer within 3 s",
    });
    // A late report of the boot before (the machine reboots meanwhile) changes nothing.
    expect(changesOf("STOPPING", unresponsive, at)).toEqual({});
    expect(changesOf("BOOTING", unresponsive, at)).toEqual({});
    const healthy = { health: "HEALTHY", healthSince: at, healthReason: null };
    expect(changesOf("READY", machineEvent("MachineResponsive", { unresponsiveSeconds: 60 }), at)).toEqual(healthy);
    expect(changesOf("READY", stateChanged("STOPPING", "reboot"), at)).toMatchObject(healthy);
  });
});

describe("the event vocabulary", () => {
  it("accepts a report that matches its kind's fields", () => {
    const hostKeys = [{ type: "ssh-ed25519", fingerprintSha256: "SHA256:x", publicKey: "ssh-ed25519 AAAA" }];
    expect(parseMachineEvent("SshReady", { ip: "10.0.0.5", port: 22, hostKeys })).toEqual({
      event: { kind: "SshReady", payload: { ip: "10.0.0.5", port: 22, hostKeys } },
    });
    expect(parseMachineEvent("MachineStateChanged", { state: "FAILED", reason: null })).toHaveProperty("event");
  });

  it("refuses unknown kinds and bad payloads, naming each field by its path", () => {
    expect(parseMachineEvent("Exploded", {}, "events.0")).toEqual({
      errors: [{ field: "events.0.kind", message: "is not a machine event kind" }],
    });
    expect(parseMachineEvent("toString", {})).toHaveProperty("errors");
    const bad = parseMachineEvent("SshReady", { ip: 5, hostKeys: [{ type: "x" }], extra: 1 }, "events.2");
    expect("errors" in bad && bad.errors.map((e) => e.field)).toEqual([
      "events.2.payload.ip",
      "events.2.payload.port",
      "events.2.payload.hostKeys",
      "events.2.payload.extra",
    ]);
    expect(parseMachineEvent("MachineStateChanged", { state: "ON_FIRE" })).toHaveProperty("errors");
    expect(parseMachineEvent("ConsoleOutput", "text")).toEqual({
      errors: [{ field: "payload", message: "must be an object" }],
    });
  });

  it("is what the schema's event types are made of", () => {
    const vocabularies: Array<[Record<string, KindSpec>, string]> = [
      [MACHINE_EVENTS, "MachineEvent"],
      [IMAGE_EVENTS, "ImageEvent"],
    ];
    for (const [vocabulary, iface] of vocabularies) {
      for (const [kind, spec] of Object.entries(vocabulary)) {
        const type = schema.getType(kind) as GraphQLObjectType | undefined;
        expect(
          type?.getInterfaces().map((i) => i.name),
          kind,
        ).toEqual([iface]);
        const fields = type?.getFields() ?? {};
        for (const [name, field] of Object.entries(spec.fields)) {
          expect(fields[name], `${kind}.${name}`).toBeDefined();
          const lists = field.kind === "strings" || field.kind === "hostKeys";
          expect(isNonNullType(fields[name]?.type), `${kind}.${name}`).toBe(!field.optional || lists);
        }
      }
    }
  });
});

describe("input rules", () => {
  it("fills a provision's defaults", () => {
    expect(validateProvision({})).toEqual({
      name: undefined,
      image: "debian",
      memoryMiB: 256,
      sshPublicKeys: [],
      imageVersion: undefined,
      limits: {},
    });
  });

  it("names every bad field in one path format, in the api and on the host alike", () => {
    const input = { name: "Bad_Name", memoryMiB: 10, sshPublicKeys: ["ssh-ed25519 AAAA", "nope"], imageVersion: 0 };
    expect(fieldsOf(() => validateProvision(input))).toEqual(["name", "memoryMiB", "sshPublicKeys.1", "imageVersion"]);
    expect(fieldsOf(() => validateSpec({ ...input, owner: "" }))).toEqual([
      "name",
      "memoryMiB",
      "sshPublicKeys.1",
      "imageVersion",
      "owner",
    ]);
  });
});

describe("placement and quotas", () => {
  const host = (id: string, memoryMiB: number, used: number, slots = 10) => ({
    id,
    memoryMiB,
    maxMachines: slots,
    usedMemoryMiB: used,
    machineCount: 0,
  });

  it("puts a machine on the host with the most free memory that fits it and has a slot", () => {
    const hosts = [host("a", 4096, 3000), host("b", 8192, 1000), host("c", 16_384, 0, 0)];
    expect(choosePlacement(hosts, 512)).toBe("b");
    expect(choosePlacement(hosts, 512, new Set(["a"]))).toBe("a");
    expect(() => choosePlacement(hosts, 512, new Set(["c"]))).toThrow(NoCapacityError);
    expect(() => choosePlacement(hosts, 8000)).toThrow(NoCapacityError);
  });

  it("refuses the machine that would take the owner past a quota", () => {
    const quota = { maxMachines: 2, maxMemoryMiB: 1024 };
    expect(() => checkQuota(quota, { machines: 1, memoryMiB: 512 }, 512)).not.toThrow();
    expect(() => checkQuota(quota, { machines: 2, memoryMiB: 0 }, 64)).toThrow(QuotaExceededError);
    expect(() => checkQuota(quota, { machines: 1, memoryMiB: 768 }, 512)).toThrow(/memoryMiB would be 1280/);
  });
});
