import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { localId } from "../../agent/api/ids.js";
import { HealthChecks } from "../../agent/health.js";
import { Reconciler } from "../../agent/reconciler.js";
import { changesOf, type MachineEvent, type MachineFacts, type MachineState } from "../../core/index.js";
import type { HealthProbe } from "../../host/driver.js";
import { apiMachine } from "../helpers/api-machine.js";
import { FakeDriver } from "../helpers/fake-driver.js";

const INTERVAL = 1000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date("2026-12-01T10:00:00Z"));
});
afterEach(() => {
  vi.useRealTimers();
});

/** A reconciler and health checks on a fake driver, wired as the agent wires them, and what they reported. */
function agentOn(driver = new FakeDriver(), options: { random?: () => number; concurrency?: number } = {}) {
  const reported: Array<{ id: string; event: MachineEvent }> = [];
  const health = new HealthChecks({
    probe: (id) => driver.probe(id),
    ready: () => reconciler.readyIds(),
    report: (id, event) => reported.push({ id, event }),
    intervalMs: INTERVAL,
    random: options.random ?? (() => 0.5),
    concurrency: options.concurrency,
  });
  const reconciler: Reconciler = new Reconciler({
    driver,
    report: (machineId, event) => {
      health.observe(localId(machineId), event);
      reported.push({ id: localId(machineId), event });
    },
  });
  health.start();
  const kinds = (id: string) => reported.filter((r) => r.id === id).map((r) => r.event.kind);
  const healthEvents = (id: string) =>
    reported.filter((r) => r.id === id && /Responsive|Unresponsive/.test(r.event.kind)).map((r) => r.event);
  return { driver, reconciler, health, reported, kinds, healthEvents };
}

/** The machine's row after these events, as the api's event store applies them (an agent's repeated state is skipped). */
function rowAfter(events: MachineEvent[], from: MachineState = "PENDING"): Partial<MachineFacts> {
  let row: Partial<MachineFacts> = { state: from, health: "HEALTHY" };
  for (const [i, event] of events.entries()) {
    if (event.kind === "MachineStateChanged" && event.payload.state === row.state) continue;
    row = { ...row, ...changesOf(row.state as MachineState, event, new Date(Date.now() + i)) };
  }
  return row;
}

const probesOf = (driver: FakeDriver, id: string) => driver.callsOf("probe").filter((c) => c.id === id).length;

async function readyMachine(id = "m") {
  const agent = agentOn();
  agent.reconciler.reconcile(apiMachine(id));
  await vi.advanceTimersByTimeAsync(0);
  await agent.reconciler.settle();
  expect(agent.kinds(id)).toEqual(["MachineStateChanged", "MachineStateChanged", "MachineStateChanged"]);
  return agent;
}

describe("health probes of READY machines", () => {
  it("counts failed probes and reports MachineUnresponsive once, on the third in a row", async () => {
    const { driver, healthEvents } = await readyMachine();
    // With random 0.5 the first probe is one interval after READY, and each next one an interval later.
    await vi.advanceTimersByTimeAsync(INTERVAL + 100);
    expect(probesOf(driver, "m")).toBe(1);
    const failedFrom = Date.now();
    driver.stopAnswering("m", "ssh at 10.0.0.5:22: no answer within 3 s");
    await vi.advanceTimersByTimeAsync(INTERVAL);
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(probesOf(driver, "m")).toBe(3);
    expect(healthEvents("m")).toEqual([]);
    await vi.advanceTimersByTimeAsync(INTERVAL);
    const [unresponsive] = healthEvents("m");
    expect(unresponsive).toEqual({
      kind: "MachineUnresponsive",
      payload: { reason: "ssh at 10.0.0.5:22: no answer within 3 s", failures: 3, since: expect.any(String) },
    });
    // Since the first of the three, which came within an interval of the sshd going quiet.
    const since = Date.parse(unresponsive?.kind === "MachineUnresponsive" ? unresponsive.payload.since : "");
    expect(since).toBeGreaterThan(failedFrom);
    expect(since).toBeLessThanOrEqual(failedFrom + INTERVAL);
    // Once per transition, not per probe.
    await vi.advanceTimersByTimeAsync(5 * INTERVAL);
    expect(probesOf(driver, "m")).toBe(9);
    expect(healthEvents("m")).toHaveLength(1);
  });

  it("reports MachineResponsive once when it answers again, with how long it did not", async () => {
    const { driver, healthEvents, reported } = await readyMachine();
    driver.stopAnswering("m");
    await vi.advanceTimersByTimeAsync(3 * INTERVAL + 100);
    expect(healthEvents("m").map((e) => e.kind)).toEqual(["MachineUnresponsive"]);
    driver.answerAgain("m");
    await vi.advanceTimersByTimeAsync(3 * INTERVAL);
    const events = healthEvents("m");
    expect(events.map((e) => e.kind)).toEqual(["MachineUnresponsive", "MachineResponsive"]);
    const back = events[1] as Extract<MachineEvent, { kind: "MachineResponsive" }>;
    // Unresponsive from its first failed probe (one interval in) to the one that passed (four in).
    expect(back.payload.unresponsiveSeconds).toBeCloseTo(3, 0);
    // What the api shows after these events.
    expect(rowAfter(reported.map((r) => r.event))).toMatchObject({ state: "READY", health: "HEALTHY" });
  });

  it("a probe that passes between failures starts the count again", async () => {
    const { driver, healthEvents } = await readyMachine();
    driver.stopAnswering("m");
    await vi.advanceTimersByTimeAsync(2 * INTERVAL + 100);
    driver.answerAgain("m");
    await vi.advanceTimersByTimeAsync(INTERVAL);
    driver.stopAnswering("m");
    await vi.advanceTimersByTimeAsync(2 * INTERVAL);
    expect(probesOf(driver, "m")).toBe(5);
    expect(healthEvents("m")).toEqual([]);
  });

  it("probes no machine that is not READY, and a READY one only while it is", async () => {
    const { driver, reconciler } = agentOn();
    driver.place("booting", { supervised: true });
    driver.place("failed", { supervised: true });
    reconciler.reconcile(apiMachine("booting", { state: "BOOTING" }));
    reconciler.reconcile(apiMachine("failed", { state: "FAILED" }));
    reconciler.reconcile(apiMachine("gone", { state: "READY", desiredState: "DESTROYED" }));
    await reconciler.settle();
    await vi.advanceTimersByTimeAsync(10 * INTERVAL);
    expect(driver.callsOf("probe")).toEqual([]);
  });

  it("stops probing a machine once it is destroyed, and drops what a probe running then found", async () => {
    const { driver, reconciler, healthEvents } = await readyMachine();
    await vi.advanceTimersByTimeAsync(2 * INTERVAL + 100);
    expect(probesOf(driver, "m")).toBe(2);
    driver.stopAnswering("m");
    await vi.advanceTimersByTimeAsync(INTERVAL);
    await vi.advanceTimersByTimeAsync(INTERVAL);
    // The third failing probe is running when the destroy comes.
    const release = driver.hold("probe");
    await vi.advanceTimersByTimeAsync(INTERVAL);
    expect(probesOf(driver, "m")).toBe(5);
    reconciler.reconcile(apiMachine("m", { state: "READY", desiredState: "DESTROYED" }));
    await reconciler.settle();
    release();
    await vi.advanceTimersByTimeAsync(10 * INTERVAL);
    expect(probesOf(driver, "m")).toBe(5);
    expect(healthEvents("m")).toEqual([]);
  });

  it("an unresponsive machine reboots as any READY one, and is healthy after its new READY", async () => {
    const { driver, reconciler, healthEvents, reported } = await readyMachine();
    driver.stopAnswering("m");
    await vi.advanceTimersByTimeAsync(3 * INTERVAL + 100);
    expect(healthEvents("m").map((e) => e.kind)).toEqual(["MachineUnresponsive"]);
    expect(rowAfter(reported.map((r) => r.event))).toMatchObject({ state: "READY", health: "UNRESPONSIVE" });

    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 1 }));
    await reconciler.settle();
    expect(driver.callsOf("reboot")).toEqual([{ op: "reboot", id: "m", generation: 1 }]);
    await vi.advanceTimersByTimeAsync(5 * INTERVAL);
    // The new boot answers: no MachineResponsive is needed (the new state already reset health), and no new verdict.
    expect(healthEvents("m").map((e) => e.kind)).toEqual(["MachineUnresponsive"]);
    const states = reported.flatMap((r) => (r.event.kind === "MachineStateChanged" ? [r.event.payload.state] : []));
    expect(states).toEqual(["PROVISIONING", "BOOTING", "READY", "STOPPING", "BOOTING", "READY"]);
    expect(rowAfter(reported.map((r) => r.event))).toMatchObject({ state: "READY", health: "HEALTHY" });
    expect(probesOf(driver, "m")).toBeGreaterThan(3);
  });

  it("probes stop with the agent, and nothing found after stop is reported", async () => {
    const { driver, health, healthEvents } = await readyMachine();
    driver.stopAnswering("m");
    await vi.advanceTimersByTimeAsync(2 * INTERVAL + 100);
    const release = driver.hold("probe");
    await vi.advanceTimersByTimeAsync(INTERVAL);
    const stopped = health.stop();
    release();
    await stopped;
    await vi.advanceTimersByTimeAsync(10 * INTERVAL);
    expect(probesOf(driver, "m")).toBe(3);
    expect(healthEvents("m")).toEqual([]);
  });
});

/** Stops the checks while the (fake) clock lets the probes still running finish. */
async function stopNow(health: HealthChecks): Promise<void> {
  const stopped = health.stop();
  await vi.advanceTimersByTimeAsync(INTERVAL);
  await stopped;
}

describe("when the probes run", () => {
  /** Health checks over n READY machines whose probes take `probeMs`, recording when each probe started. */
  function probed(n: number, options: { probeMs?: number; concurrency?: number; random?: () => number } = {}) {
    const starts = new Map<string, number[]>();
    let running = 0;
    let most = 0;
    const ids = Array.from({ length: n }, (_, i) => `m${i}`);
    const health = new HealthChecks({
      probe: async (id): Promise<HealthProbe> => {
        starts.set(id, [...(starts.get(id) ?? []), Date.now()]);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, options.probeMs ?? 5));
        running--;
        return { healthy: true };
      },
      ready: () => ids,
      report: () => undefined,
      intervalMs: INTERVAL,
      concurrency: options.concurrency,
      random: options.random,
    });
    return { health, starts, most: () => most };
  }

  it("spreads the first probes over an interval, and keeps each machine's gaps within the jitter", async () => {
    const { health, starts } = probed(100, { probeMs: 1 });
    const began = Date.now();
    health.start();
    await vi.advanceTimersByTimeAsync(20 * INTERVAL);
    await stopNow(health);
    const tick = INTERVAL / 10;
    const firsts = [...starts.values()].map((s) => (s[0] as number) - began);
    expect(firsts).toHaveLength(100);
    for (const first of firsts) {
      expect(first).toBeGreaterThanOrEqual(0.5 * INTERVAL);
      // (A probe may wait a moment for a free slot.)
      expect(first).toBeLessThanOrEqual(1.5 * INTERVAL + tick + 10);
    }
    // Not one burst: no tenth of the interval holds more than a fifth of the first probes.
    const buckets = new Map<number, number>();
    for (const first of firsts) buckets.set(Math.floor(first / tick), (buckets.get(Math.floor(first / tick)) ?? 0) + 1);
    expect(Math.max(...buckets.values())).toBeLessThanOrEqual(20);
    for (const times of starts.values()) {
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] as number) - (times[i - 1] as number);
        expect(gap).toBeGreaterThanOrEqual(0.9 * INTERVAL);
        expect(gap).toBeLessThanOrEqual(1.1 * INTERVAL + tick + 10);
      }
    }
  });

  it("runs at most `concurrency` probes at once, and every machine still gets its probe", async () => {
    const { health, starts, most } = probed(12, { probeMs: 50, concurrency: 3, random: () => 0 });
    health.start();
    await vi.advanceTimersByTimeAsync(INTERVAL);
    await stopNow(health);
    expect(most()).toBe(3);
    expect(starts.size).toBe(12);
  });

  it("probes nothing with an interval of 0", async () => {
    const { starts } = probed(3);
    const off = new HealthChecks({
      probe: async () => ({ healthy: true }),
      ready: () => ["m"],
      report: () => undefined,
      intervalMs: 0,
    });
    off.start();
    await vi.advanceTimersByTimeAsync(100 * INTERVAL);
    expect(starts.size).toBe(0);
  });
});
