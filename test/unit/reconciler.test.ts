import { describe, expect, it, vi } from "vitest";
import { localId, machineGlobalId } from "../../agent/api/ids.js";
import { KeyedQueue } from "../../agent/keyed-queue.js";
import { Reconciler } from "../../agent/reconciler.js";
import {
  type DesiredState,
  type MachineEvent,
  type MachineState,
  stateChanged,
  UnknownOwnerError,
  ValidationError,
} from "../../core/index.js";
import { apiMachine } from "../helpers/api-machine.js";
import { FakeDriver } from "../helpers/fake-driver.js";

/** A reconciler on a fake driver, and what it reported and logged. */
function agentOn(driver = new FakeDriver(), offsets: Record<string, number> = {}, retryDelayMs = 5) {
  const reported: Array<{ id: string; event: MachineEvent }> = [];
  const logs: string[] = [];
  const reconciler = new Reconciler({
    driver,
    report: (machineId, event) => reported.push({ id: localId(machineId), event }),
    savedOffset: (id) => offsets[id],
    log: (line) => logs.push(line),
    retryDelayMs: () => retryDelayMs,
  });
  const stateEvents = (id: string) =>
    reported.flatMap(({ id: of, event }) => (of === id && event.kind === "MachineStateChanged" ? [event.payload] : []));
  return {
    driver,
    reconciler,
    reported,
    logs,
    states: (id: string) => stateEvents(id).map((p) => p.state),
    reasons: (id: string) => stateEvents(id).map((p) => p.reason),
  };
}

type HostHas = "supervised" | "on disk, kernel alive" | "on disk, kernel gone" | "nothing";
type Outcome = { calls: string[]; states: MachineState[] };

const provisioned: Outcome = { calls: ["provision"], states: ["PROVISIONING", "BOOTING", "READY"] };
const lost: Outcome = { calls: [], states: ["FAILED"] };
const untouched: Outcome = { calls: [], states: [] };
const adopted: Outcome = { calls: ["adopt"], states: [] };
const adoptedDead: Outcome = { calls: ["adopt"], states: ["FAILED"] };
// Half made when the last agent died: adopt cleans up, and it is made again from the start.
const remade: Outcome = { calls: ["adopt", "provision"], states: ["PROVISIONING", "BOOTING", "READY"] };
const destroyed: Outcome = { calls: ["destroy", "collectImages"], states: ["STOPPING", "DESTROYED"] };
const markedDestroyed: Outcome = { calls: [], states: ["DESTROYED"] };

/** Every (desired, api state, host) case, written out: which driver calls, which states reported. */
const DECISIONS: Record<DesiredState, Record<HostHas, Record<MachineState, Outcome>>> = {
  RUNNING: {
    nothing: {
      PENDING: provisioned,
      // Its agent died before it made anything here (or its reverter undid it): made now.
      PROVISIONING: provisioned,
      BOOTING: lost,
      RUNNING: lost,
      READY: lost,
      STOPPING: lost,
      FAILED: untouched,
      DESTROYED: untouched,
      LOST: lost,
    },
    supervised: {
      PENDING: untouched,
      PROVISIONING: untouched,
      BOOTING: untouched,
      RUNNING: untouched,
      READY: untouched,
      STOPPING: untouched,
      FAILED: untouched,
      DESTROYED: destroyed,
      LOST: untouched,
    },
    "on disk, kernel alive": {
      PENDING: adopted,
      PROVISIONING: adopted,
      BOOTING: adopted,
      RUNNING: adopted,
      READY: adopted,
      STOPPING: adopted,
      FAILED: adopted,
      DESTROYED: destroyed,
      LOST: adopted,
    },
    "on disk, kernel gone": {
      PENDING: remade,
      PROVISIONING: remade,
      BOOTING: remade,
      RUNNING: remade,
      READY: adoptedDead,
      STOPPING: adoptedDead,
      FAILED: adoptedDead,
      DESTROYED: destroyed,
      LOST: adoptedDead,
    },
  },
  DESTROYED: {
    nothing: {
      PENDING: markedDestroyed,
      PROVISIONING: markedDestroyed,
      BOOTING: markedDestroyed,
      RUNNING: markedDestroyed,
      READY: markedDestroyed,
      STOPPING: markedDestroyed,
      FAILED: markedDestroyed,
      DESTROYED: untouched,
      LOST: markedDestroyed,
    },
    supervised: {
      PENDING: destroyed,
      PROVISIONING: destroyed,
      BOOTING: destroyed,
      RUNNING: destroyed,
      READY: destroyed,
      STOPPING: destroyed,
      FAILED: destroyed,
      DESTROYED: destroyed,
      LOST: destroyed,
    },
    "on disk, kernel alive": {
      PENDING: destroyed,
      PROVISIONING: destroyed,
      BOOTING: destroyed,
      RUNNING: destroyed,
      READY: destroyed,
      STOPPING: destroyed,
      FAILED: destroyed,
      DESTROYED: destroyed,
      LOST: destroyed,
    },
    "on disk, kernel gone": {
      PENDING: destroyed,
      PROVISIONING: destroyed,
      BOOTING: destroyed,
      RUNNING: destroyed,
      READY: destroyed,
      STOPPING: destroyed,
      FAILED: destroyed,
      DESTROYED: destroyed,
      LOST: destroyed,
    },
  },
};

const cases = Object.entries(DECISIONS).flatMap(([desired, byHost]) =>
  Object.entries(byHost).flatMap(([host, byState]) =>
    Object.entries(byState).map(([state, outcome]) => ({
      desired: desired as DesiredState,
      host: host as HostHas,
      state: state as MachineState,
      outcome,
    })),
  ),
);

describe("the reconciler's decision for each (desired, api state, host) case", () => {
  it("covers all 72 cases", () => {
    expect(cases).toHaveLength(2 * 9 * 4);
  });

  it.each(cases)("desired $desired, api $state, host has $host", async ({ desired, host, state, outcome }) => {
    const { driver, reconciler, states, reasons } = agentOn();
    if (host === "supervised") driver.place("m", { supervised: true });
    if (host === "on disk, kernel alive") driver.place("m", { kernelAlive: true });
    if (host === "on disk, kernel gone") driver.place("m", { kernelAlive: false });
    reconciler.reconcile(apiMachine("m", { desiredState: desired, state }));
    await reconciler.settle();
    expect(driver.mutations()).toEqual(outcome.calls);
    expect(states("m")).toEqual(outcome.states);
    // What the host holds afterwards follows from the decision.
    const held = driver.disk.has("m");
    if (outcome === destroyed || outcome === adoptedDead) expect(held).toBe(false);
    if (outcome === adopted || outcome === provisioned || outcome === remade)
      expect(driver.isSupervised("m")).toBe(true);
    if (outcome === lost) expect(reasons("m")).toEqual(["lost: this host has no trace of it"]);
    if (outcome === adoptedDead) expect(reasons("m")).toEqual(["its kernel stopped while no agent was watching"]);
  });
});

describe("the reconciler's details", () => {
  it("says again what its machine is when the api had it LOST (the kernel ran on while the host was silent)", async () => {
    const { driver, reconciler, states, reasons } = agentOn();
    reconciler.reconcile(apiMachine("m", { state: "PENDING" }));
    await reconciler.settle();
    expect(states("m")).toEqual(["PROVISIONING", "BOOTING", "READY"]);
    reconciler.reconcile(apiMachine("m", { state: "LOST" }));
    await reconciler.settle();
    expect(states("m")).toEqual(["PROVISIONING", "BOOTING", "READY", "READY"]);
    expect(reasons("m").at(-1)).toBe("its host is heard from again");
    expect(driver.mutations()).toEqual(["provision"]);
    // Said once: the api has it READY again.
    reconciler.reconcile(apiMachine("m", { state: "READY" }));
    await reconciler.settle();
    expect(states("m")).toHaveLength(4);
  });

  it("writes keys added through the api into a running machine, once", async () => {
    const { driver, reconciler } = agentOn();
    driver.place("m", { supervised: true });
    reconciler.reconcile(apiMachine("m", { state: "READY", sshPublicKeys: ["ssh-ed25519 AAAA"] }));
    await reconciler.settle();
    reconciler.reconcile(apiMachine("m", { state: "READY", sshPublicKeys: ["ssh-ed25519 AAAA"] }));
    await reconciler.settle();
    expect(driver.callsOf("setSshKeys")).toEqual([{ op: "setSshKeys", id: "m", keys: ["ssh-ed25519 AAAA"] }]);
  });

  it("runs a READY machine's pending lab check once, beside its queue, and reports how it went", async () => {
    const driver = new FakeDriver();
    const reports: Array<{ machineId: string; checkId: string; run: unknown }> = [];
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((r) => (finish = r));
    driver.checkResult = () => ({ exitCode: 3, output: "no nginx on :80" });
    const reconciler = new Reconciler({
      driver,
      report: () => undefined,
      reportCheck: async (machineId, checkId, run) => {
        await gate;
        reports.push({ machineId, checkId, run });
      },
    });
    driver.place("m", { supervised: true });
    const pendingCheck = { id: "c1", script: "curl -fs localhost", timeoutSeconds: 5 };
    reconciler.reconcile(apiMachine("m", { state: "READY", pendingCheck }));
    await reconciler.settle();
    // The check still reporting does not hold the machine's queue (settle returns), and it is not run twice.
    reconciler.reconcile(apiMachine("m", { state: "READY", pendingCheck }));
    await reconciler.settle();
    expect(driver.callsOf("runCheck")).toEqual([{ op: "runCheck", id: "m", script: "curl -fs localhost" }]);
    finish();
    await reconciler.stop();
    expect(reports).toEqual([
      { machineId: machineGlobalId("m"), checkId: "c1", run: { exitCode: 3, output: "no nginx on :80" } },
    ]);

    // Not READY: not run.
    const other = agentOn();
    other.driver.place("n", { supervised: true });
    other.reconciler.reconcile(apiMachine("n", { state: "BOOTING", pendingCheck }));
    await other.reconciler.settle();
    expect(other.driver.callsOf("runCheck")).toEqual([]);
  });

  it("reboots onto a new disk for a reset, also one a later plain reboot overtook", async () => {
    const { driver, reconciler } = agentOn();
    driver.place("m", { supervised: true });
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 1 }));
    await reconciler.settle();
    // A reset (2) then a reboot (3) asked while this agent was away: the boot it makes is on a new disk.
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 3, resetGeneration: 2 }));
    await reconciler.settle();
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 3, resetGeneration: 2 }));
    await reconciler.settle();
    expect(driver.callsOf("reboot")).toEqual([
      { op: "reboot", id: "m", generation: 1 },
      { op: "reboot", id: "m", generation: 3, fresh: true },
    ]);
  });

  it("provisions with the api's fields under the machine's plain id", async () => {
    const { driver, reconciler } = agentOn();
    reconciler.reconcile(
      apiMachine("m", {
        name: "lab",
        memoryMiB: 512,
        imageVersion: 3,
        sshPublicKeys: ["ssh-ed25519 AAAA"],
        limits: { processes: 64, cpuWeight: 50, cpuPercent: 25 },
      }),
    );
    await reconciler.settle();
    expect(driver.callsOf("provision")[0]?.spec).toEqual({
      id: "m",
      name: "lab",
      owner: "ann",
      image: "debian",
      imageVersion: 3,
      memoryMiB: 512,
      sshPublicKeys: ["ssh-ed25519 AAAA"],
      limits: { processes: 64, cpuWeight: 50, cpuPercent: 25 },
    });
  });

  it("fails a machine whose owner has no host account, without provisioning", async () => {
    const { driver, reconciler, states, reasons } = agentOn();
    reconciler.reconcile(apiMachine("m", { owner: { name: "bob", hostUser: null } }));
    await reconciler.settle();
    expect(driver.mutations()).toEqual([]);
    expect(states("m")).toEqual(["FAILED"]);
    expect(reasons("m")[0]).toMatch(/owner bob has no host account/);
  });

  it("reboots when the api's reboot generation is higher than the machine's, once", async () => {
    const { driver, reconciler, states } = agentOn();
    driver.place("m", { supervised: true, rebootGeneration: 1 });
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 1 }));
    await reconciler.settle();
    expect(driver.mutations()).toEqual([]);
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 2 }));
    await reconciler.settle();
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 2 }));
    await reconciler.settle();
    expect(driver.callsOf("reboot")).toEqual([{ op: "reboot", id: "m", generation: 2 }]);
    expect(states("m")).toEqual(["STOPPING", "BOOTING", "READY"]);
  });

  it("adopts with the console offset the previous agent saved", async () => {
    const { driver, reconciler, logs } = agentOn(new FakeDriver(), { m: 1234 });
    driver.place("m");
    reconciler.reconcile(apiMachine("m", { state: "READY" }));
    await reconciler.settle();
    expect(driver.callsOf("adopt")).toEqual([{ op: "adopt", id: "m", consoleOffset: 1234 }]);
    expect(logs).toContain(`re-adopted m (${machineGlobalId("m")})`);
  });

  it("adopting a kernel the api still has as PROVISIONING says BOOTING before what the kernel says", async () => {
    const { driver, reconciler, states } = agentOn();
    driver.place("m");
    reconciler.reconcile(apiMachine("m", { state: "PROVISIONING" }));
    await reconciler.settle();
    expect(states("m")).toEqual([]);
    driver.say("m", stateChanged("READY"));
    driver.say("m", stateChanged("FAILED", "x"));
    expect(states("m")).toEqual(["BOOTING", "READY", "FAILED"]);
  });

  it("a kernel that dies while supervised is FAILED, and a stale PENDING does not provision it again", async () => {
    const { driver, reconciler, states } = agentOn();
    reconciler.reconcile(apiMachine("m"));
    await reconciler.settle();
    driver.killKernel("m");
    // A resync's list read before any of this was stored.
    reconciler.reconcile(apiMachine("m", { state: "PENDING" }));
    await reconciler.settle();
    expect(driver.callsOf("provision")).toHaveLength(1);
    expect(states("m")).toEqual(["PROVISIONING", "BOOTING", "READY", "FAILED"]);
  });

  it("a stale PROVISIONING after a kernel died mid-boot does not provision it again", async () => {
    const { driver, reconciler, states } = agentOn();
    reconciler.reconcile(apiMachine("m"));
    await reconciler.settle();
    driver.killKernel("m");
    // The api's list from before the FAILED was stored: what this agent reported last counts.
    reconciler.reconcile(apiMachine("m", { state: "PROVISIONING" }));
    reconciler.reconcile(apiMachine("m", { state: "BOOTING" }));
    await reconciler.settle();
    expect(driver.callsOf("provision")).toHaveLength(1);
    expect(states("m")).toEqual(["PROVISIONING", "BOOTING", "READY", "FAILED"]);
  });
});

describe("resync", () => {
  it("removes what no machine owns, silently, and reconciles every machine listed", async () => {
    const { driver, reconciler, reported, logs } = agentOn();
    driver.place("orphan", { supervised: true });
    driver.place("kept", { supervised: true });
    await reconciler.resync(async () => [apiMachine("kept", { state: "READY" }), apiMachine("new")]);
    await reconciler.settle();
    expect(driver.callsOf("destroy")).toEqual([{ op: "destroy", id: "orphan" }]);
    expect(driver.callsOf("provision").map((c) => c.id)).toEqual(["new"]);
    expect([...driver.disk.keys()].sort()).toEqual(["kept", "new"]);
    expect(reported.filter((r) => r.id === "orphan")).toEqual([]);
    expect(logs).toContain("removed orphan orphan");
  });

  it("reads this host's ids before the api's list: a machine placed meanwhile is no orphan", async () => {
    const { driver, reconciler } = agentOn();
    await reconciler.resync(async () => {
      // While the list is read, the api places a machine and its change provisions it here.
      reconciler.reconcile(apiMachine("placed"));
      await reconciler.settle();
      return [];
    });
    await reconciler.settle();
    expect(driver.disk.has("placed")).toBe(true);
    expect(driver.callsOf("destroy")).toEqual([]);
  });

  it("a resync during a resync joins it", async () => {
    const { reconciler } = agentOn();
    let lists = 0;
    const list = async () => {
      lists++;
      await new Promise((r) => setTimeout(r, 5));
      return [];
    };
    await Promise.all([reconciler.resync(list), reconciler.resync(list)]);
    expect(lists).toBe(1);
  });
});

describe("the keyed queue", () => {
  it("runs a key once more after a busy run however often it was asked, and never two runs of a key at once", async () => {
    const latest = new Map<string, number>();
    const runs: Array<{ key: string; saw: number | undefined }> = [];
    let inside = 0;
    let most = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const queue = new KeyedQueue(
      async (key) => {
        inside++;
        most = Math.max(most, inside);
        runs.push({ key, saw: latest.get(key) });
        if (runs.length === 1) await gate;
        inside--;
      },
      () => undefined,
    );
    latest.set("a", 1);
    queue.run("a");
    await vi.waitFor(() => expect(runs).toHaveLength(1));
    for (const n of [2, 3, 4]) {
      latest.set("a", n);
      queue.run("a");
    }
    // Another key is not held up behind a.
    latest.set("b", 1);
    queue.run("b");
    await vi.waitFor(() => expect(runs).toHaveLength(2));
    expect(runs[1]).toEqual({ key: "b", saw: 1 });
    release();
    await queue.idle();
    expect(runs.filter((r) => r.key === "a")).toEqual([
      { key: "a", saw: 1 },
      { key: "a", saw: 4 },
    ]);
    expect(most).toBe(2);
    expect(queue.busy("a")).toBe(false);
  });

  it("reports a run's error and keeps the key usable", async () => {
    const errors: string[] = [];
    let calls = 0;
    const queue = new KeyedQueue(
      async () => {
        calls++;
        if (calls === 1) throw new Error("boom");
      },
      (key, error) => errors.push(`${key}: ${(error as Error).message}`),
    );
    queue.run("a");
    await queue.idle();
    queue.run("a");
    await queue.idle();
    expect(errors).toEqual(["a: boom"]);
    expect(calls).toBe(2);
  });
});

describe("the newest input wins", () => {
  it("three changes while a run is busy make one more run, with the newest", async () => {
    const { driver, reconciler } = agentOn();
    driver.place("m", { supervised: true });
    const release = driver.hold("reboot");
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 1 }));
    await vi.waitFor(() => expect(driver.callsOf("reboot")).toHaveLength(1));
    for (const generation of [2, 3, 4])
      reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: generation }));
    release();
    await reconciler.settle();
    expect(driver.callsOf("reboot").map((c) => c.generation)).toEqual([1, 4]);
  });

  it("a stale RUNNING after DESTROYED does not provision again", async () => {
    const { driver, reconciler, states } = agentOn();
    reconciler.reconcile(apiMachine("m", { desiredState: "DESTROYED", state: "STOPPING" }));
    await reconciler.settle();
    reconciler.reconcile(apiMachine("m", { desiredState: "RUNNING", state: "PENDING" }));
    await reconciler.settle();
    expect(driver.mutations()).toEqual([]);
    expect(states("m")).toEqual(["DESTROYED"]);
  });

  it("a destroy and a stale RUNNING that arrive during a provision make one destroy, and nothing stays", async () => {
    const { driver, reconciler, states } = agentOn();
    const release = driver.hold("provision");
    reconciler.reconcile(apiMachine("m"));
    await vi.waitFor(() => expect(driver.callsOf("provision")).toHaveLength(1));
    reconciler.reconcile(apiMachine("m", { desiredState: "DESTROYED", state: "PROVISIONING" }));
    reconciler.reconcile(apiMachine("m", { desiredState: "RUNNING", state: "PENDING" }));
    release();
    await reconciler.settle();
    expect(driver.mutations()).toEqual(["provision", "destroy", "collectImages"]);
    expect(driver.disk.size).toBe(0);
    expect(states("m").at(-1)).toBe("DESTROYED");
  });

  it("a reboot generation never goes back", async () => {
    const { driver, reconciler } = agentOn();
    driver.place("m", { supervised: true });
    const release = driver.hold("reboot");
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 1 }));
    await vi.waitFor(() => expect(driver.callsOf("reboot")).toHaveLength(1));
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 3 }));
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 2 }));
    release();
    await reconciler.settle();
    expect(driver.callsOf("reboot").map((c) => c.generation)).toEqual([1, 3]);
  });
});

describe("failures and crashes between steps", () => {
  it("retries a provision that failed after PROVISIONING, after its backoff, even once the api says PROVISIONING", async () => {
    const { driver, reconciler, states } = agentOn(new FakeDriver(), {}, 60);
    driver.failNext("provision", new Error("btrfs: device busy"), "PROVISIONING");
    reconciler.reconcile(apiMachine("m"));
    await reconciler.settle();
    expect(driver.callsOf("provision")).toHaveLength(1);
    // The api stored the PROVISIONING report: its change arrives before the backoff is over.
    reconciler.reconcile(apiMachine("m", { state: "PROVISIONING" }));
    await reconciler.settle();
    expect(driver.callsOf("provision")).toHaveLength(1);
    await vi.waitFor(() => expect(driver.callsOf("provision")).toHaveLength(2));
    await reconciler.settle();
    expect(states("m")).toEqual(["PROVISIONING", "PROVISIONING", "BOOTING", "READY"]);
    expect(driver.isSupervised("m")).toBe(true);
  });

  it("goes FAILED after the last attempt of a transient failure", async () => {
    const { driver, reconciler, states, reasons } = agentOn();
    for (let i = 0; i < 3; i++) driver.failNext("provision", new Error(`try ${i}`), "BOOTING");
    reconciler.reconcile(apiMachine("m"));
    await vi.waitFor(() => expect(states("m")).toContain("FAILED"));
    await reconciler.settle();
    expect(driver.callsOf("provision")).toHaveLength(3);
    expect(reasons("m").at(-1)).toBe("try 2");
    expect(driver.disk.size).toBe(0);
  });

  it.each([new UnknownOwnerError("ann"), new ValidationError([{ field: "name", message: "is bad" }])])(
    "goes FAILED at once on a permanent error ($code)",
    async (error) => {
      const { driver, reconciler, states, reasons } = agentOn();
      driver.failNext("provision", error);
      reconciler.reconcile(apiMachine("m"));
      await reconciler.settle();
      await new Promise((r) => setTimeout(r, 30));
      await reconciler.settle();
      expect(driver.callsOf("provision")).toHaveLength(1);
      expect(states("m")).toEqual(["FAILED"]);
      expect(reasons("m")).toEqual([error.message]);
    },
  );

  it("a destroy that arrives during a provision's backoff wins over the retry", async () => {
    const { driver, reconciler, states } = agentOn(new FakeDriver(), {}, 20);
    driver.failNext("provision", new Error("transient"), "PROVISIONING");
    reconciler.reconcile(apiMachine("m"));
    await reconciler.settle();
    reconciler.reconcile(apiMachine("m", { desiredState: "DESTROYED", state: "PROVISIONING" }));
    await reconciler.settle();
    await new Promise((r) => setTimeout(r, 50));
    await reconciler.settle();
    expect(driver.callsOf("provision")).toHaveLength(1);
    expect(states("m")).toEqual(["PROVISIONING", "DESTROYED"]);
  });

  it("a new agent re-adopts what the previous one left running, and provisions nothing", async () => {
    const first = agentOn();
    first.reconciler.reconcile(apiMachine("m"));
    await first.reconciler.settle();
    await first.reconciler.stop();
    await first.driver.detach();

    const second = agentOn(first.driver.next());
    await second.reconciler.resync(async () => [apiMachine("m", { state: "READY" })]);
    await second.reconciler.settle();
    expect(second.driver.mutations()).toEqual(["adopt"]);
    expect(second.driver.isSupervised("m")).toBe(true);
    expect(second.reported).toEqual([]);
  });

  it("a new agent fails a machine whose kernel died while no agent watched", async () => {
    const first = agentOn();
    first.reconciler.reconcile(apiMachine("m"));
    await first.reconciler.settle();
    await first.reconciler.stop();
    await first.driver.detach();
    first.driver.killKernel("m");

    const second = agentOn(first.driver.next());
    await second.reconciler.resync(async () => [apiMachine("m", { state: "READY" })]);
    await second.reconciler.settle();
    expect(second.states("m")).toEqual(["FAILED"]);
    expect(second.driver.disk.size).toBe(0);
  });

  it("a new agent after a crash mid-provision provisions what had begun and what had not", async () => {
    const first = agentOn(new FakeDriver(), {}, 10_000);
    first.driver.failNext("provision", new Error("the agent died here"), "PROVISIONING");
    first.reconciler.reconcile(apiMachine("begun"));
    await first.reconciler.settle();
    // Stopped before its retry: the retry never comes.
    await first.reconciler.stop();

    const second = agentOn(first.driver.next());
    await second.reconciler.resync(async () => [
      apiMachine("begun", { state: "PROVISIONING" }),
      apiMachine("waiting", { state: "PENDING" }),
    ]);
    await second.reconciler.settle();
    expect(first.driver.callsOf("provision")).toHaveLength(1);
    expect(second.states("begun")).toEqual(["PROVISIONING", "BOOTING", "READY"]);
    expect(second.driver.callsOf("provision").map((c) => c.id)).toEqual(["begun", "waiting"]);
    expect(second.states("waiting")).toEqual(["PROVISIONING", "BOOTING", "READY"]);
  });

  it("a new agent finishes a destroy the previous one did not", async () => {
    const first = agentOn();
    first.reconciler.reconcile(apiMachine("m"));
    await first.reconciler.settle();
    first.driver.failNext("destroy", new Error("the agent died here"));
    first.reconciler.reconcile(apiMachine("m", { desiredState: "DESTROYED", state: "READY" }));
    await first.reconciler.settle();
    expect(first.driver.disk.has("m")).toBe(true);
    await first.reconciler.stop();
    await first.driver.detach();

    const second = agentOn(first.driver.next());
    await second.reconciler.resync(async () => [apiMachine("m", { desiredState: "DESTROYED", state: "STOPPING" })]);
    await second.reconciler.settle();
    expect(second.driver.mutations()).toEqual(["destroy", "collectImages"]);
    expect(second.states("m")).toEqual(["STOPPING", "DESTROYED"]);
    expect(second.driver.disk.size).toBe(0);
  });

  it("a failed destroy is logged, and the next resync destroys", async () => {
    const { driver, reconciler, logs, states } = agentOn();
    driver.place("m", { supervised: true });
    driver.failNext("destroy", new Error("umount: target is busy"));
    const gone = apiMachine("m", { desiredState: "DESTROYED", state: "STOPPING" });
    reconciler.reconcile(gone);
    await reconciler.settle();
    expect(logs).toContain("reconciling m: umount: target is busy");
    await reconciler.resync(async () => [gone]);
    await reconciler.settle();
    expect(driver.disk.size).toBe(0);
    expect(states("m")).toEqual(["STOPPING", "DESTROYED"]);
  });

  it("stop lets the running convergence finish and starts no other, nor a retry", async () => {
    const { driver, reconciler } = agentOn(new FakeDriver(), {}, 100);
    driver.place("m", { supervised: true });
    driver.failNext("provision", new Error("transient"), "PROVISIONING");
    reconciler.reconcile(apiMachine("n"));
    await reconciler.settle();
    const release = driver.hold("reboot");
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 1 }));
    await vi.waitFor(() => expect(driver.callsOf("reboot")).toHaveLength(1));
    reconciler.reconcile(apiMachine("m", { state: "READY", rebootGeneration: 2 }));
    const stopped = reconciler.stop();
    release();
    await stopped;
    await new Promise((r) => setTimeout(r, 150));
    expect(driver.callsOf("reboot").map((c) => c.generation)).toEqual([1]);
    expect(driver.callsOf("provision")).toHaveLength(1);
  });

  it("does nothing once stopped", async () => {
    const { driver, reconciler } = agentOn();
    await reconciler.stop();
    reconciler.reconcile(apiMachine("m"));
    await reconciler.resync(async () => [apiMachine("n")]);
    await reconciler.settle();
    expect(driver.mutations()).toEqual([]);
  });
});
