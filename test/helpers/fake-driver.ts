import {
  type MachineEvent,
  type MachineEventSink,
  MachineExistsError,
  type MachineSpec,
  type MachineState,
  type MachineUsage,
  stateChanged,
} from "../../core/index.js";
import type { CheckRun, HealthProbe, HeldImageVersion, MachineDriver } from "../../host/driver.js";
import type { SyncImageOptions } from "../../host/image/sync.js";

/** A machine on the fake host's disk. */
export interface FakeMachine {
  spec: MachineSpec;
  kernelAlive: boolean;
  rebootGeneration: number;
  /** How far its console has been read (what an agent saves on stop). */
  consoleBytes: number;
}

export type DriverCall =
  | { op: "provision"; id: string; spec: MachineSpec }
  | { op: "adopt"; id: string; consoleOffset?: number }
  | { op: "destroy"; id: string }
  | { op: "reboot"; id: string; generation: number; fresh?: boolean }
  | { op: "probe"; id: string }
  | { op: "setSshKeys"; id: string; keys: readonly string[] }
  | { op: "runCheck"; id: string; script: string }
  | { op: "collectImages" }
  | { op: "syncImage"; image: string; source: string; version?: number }
  | { op: "check" }
  | { op: "warmUp" }
  | { op: "detach" };

type Step = "provision" | "adopt" | "destroy" | "reboot" | "syncImage" | "probe" | "check";

/**
 * A MachineDriver without kernels, for unit tests: it records every call, keeps machines in a
 * map that the driver of a restarted agent shares (next()), reports the states Host would, and
 * can be told to fail or hold a step, or to have a machine's kernel die.
 */
export class FakeDriver implements MachineDriver<{ id: string }> {
  readonly calls: DriverCall[] = [];
  images: HeldImageVersion[] = [];
  private readonly supervised = new Map<string, MachineEventSink>();
  private readonly failures = new Map<Step, Array<{ error: Error; after?: MachineState }>>();
  private readonly holds = new Map<Step, Array<Promise<void>>>();
  /** Machines whose sshd no longer proves its key, with what a probe sees. */
  private readonly silent = new Map<string, string>();

  constructor(readonly disk = new Map<string, FakeMachine>()) {}

  /** The driver of the agent that starts after this one: the same disk, nothing supervised. */
  next(): FakeDriver {
    return new FakeDriver(this.disk);
  }

  /** The next `step` throws `error`; a provision reports `after` first (and every state before it). */
  failNext(step: Step, error: Error, after?: MachineState): void {
    this.failures.set(step, [...(this.failures.get(step) ?? []), { error, after }]);
  }

  /** The next `step` waits until the returned function is called. */
  hold(step: Step): () => void {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.set(step, [...(this.holds.get(step) ?? []), held]);
    return release;
  }

  /** What a supervised machine's kernel says, as its supervisor would pass it on. */
  say(id: string, event: MachineEvent): void {
    this.supervised.get(id)?.(event);
  }

  /** Puts a machine on disk as a previous agent left it, or supervised (its events then go nowhere). */
  place(id: string, how: { kernelAlive?: boolean; supervised?: boolean; rebootGeneration?: number } = {}): void {
    this.disk.set(id, {
      spec: { id, name: id, owner: "ann" },
      kernelAlive: how.kernelAlive ?? true,
      rebootGeneration: how.rebootGeneration ?? 0,
      consoleBytes: 0,
    });
    if (how.supervised) this.supervised.set(id, () => undefined);
  }

  /** The machine's kernel dies: a supervised one goes FAILED and is cleaned up, as Host's supervisor does it. */
  killKernel(id: string): void {
    const machine = this.disk.get(id);
    if (!machine) return;
    machine.kernelAlive = false;
    const sink = this.supervised.get(id);
    if (!sink) return;
    this.supervised.delete(id);
    this.disk.delete(id);
    sink(stateChanged("FAILED", "the kernel exited (signal SIGKILL)"));
  }

  /** The machine's sshd stops answering (a guest that hangs): probes fail with `reason` until it answers again or reboots. */
  stopAnswering(id: string, reason = "no answer within 3 s"): void {
    this.silent.set(id, reason);
  }

  answerAgain(id: string): void {
    this.silent.delete(id);
  }

  /** The calls that change something, by name, in order. */
  mutations(): string[] {
    return this.calls.map((c) => c.op).filter((op) => !["check", "warmUp", "detach", "probe"].includes(op));
  }

  callsOf<Op extends DriverCall["op"]>(op: Op): Array<Extract<DriverCall, { op: Op }>> {
    return this.calls.filter((c): c is Extract<DriverCall, { op: Op }> => c.op === op);
  }

  async check(): Promise<void> {
    this.calls.push({ op: "check" });
    this.throwIfFailing("check");
  }

  warmUp(): void {
    this.calls.push({ op: "warmUp" });
  }

  async provision(spec: MachineSpec, sink: MachineEventSink): Promise<{ id: string }> {
    const id = spec.id ?? spec.name;
    this.calls.push({ op: "provision", id, spec });
    await this.held("provision");
    if (this.disk.has(id)) throw new MachineExistsError(spec.name);
    const failure = this.failures.get("provision")?.shift();
    if (failure && !failure.after) throw failure.error;
    for (const state of ["PROVISIONING", "BOOTING"] as const) {
      sink(stateChanged(state));
      // Like Host's Reverter: nothing of a failed provision stays behind.
      if (failure?.after === state) throw failure.error;
    }
    this.disk.set(id, { spec, kernelAlive: true, rebootGeneration: 0, consoleBytes: 0 });
    this.supervised.set(id, sink);
    sink(stateChanged("READY"));
    return { id };
  }

  async adopt(id: string, sink: MachineEventSink, consoleOffset?: number): Promise<{ id: string } | undefined> {
    this.calls.push({ op: "adopt", id, ...(consoleOffset === undefined ? {} : { consoleOffset }) });
    await this.held("adopt");
    this.throwIfFailing("adopt");
    const machine = this.disk.get(id);
    if (!machine || this.supervised.has(id)) return undefined;
    if (!machine.kernelAlive) {
      this.disk.delete(id);
      return undefined;
    }
    this.supervised.set(id, sink);
    return { id };
  }

  async destroy(id: string, sink: MachineEventSink = () => undefined): Promise<boolean> {
    this.calls.push({ op: "destroy", id });
    await this.held("destroy");
    this.throwIfFailing("destroy");
    const machine = this.disk.get(id);
    if (!machine) return true;
    sink(stateChanged("STOPPING"));
    this.supervised.delete(id);
    this.disk.delete(id);
    sink(stateChanged("DESTROYED"));
    return !machine.kernelAlive;
  }

  async reboot(
    id: string,
    sink: MachineEventSink,
    generation: number,
    fresh = false,
  ): Promise<{ id: string } | undefined> {
    this.calls.push({ op: "reboot", id, generation, ...(fresh ? { fresh } : {}) });
    await this.held("reboot");
    this.throwIfFailing("reboot");
    const machine = this.disk.get(id);
    if (!machine || machine.rebootGeneration >= generation) return undefined;
    sink(stateChanged("STOPPING", "reboot"));
    machine.rebootGeneration = generation;
    machine.kernelAlive = true;
    sink(stateChanged("BOOTING", "reboot"));
    // A new boot: whatever hung in the old one is gone.
    this.silent.delete(id);
    this.supervised.set(id, sink);
    sink(stateChanged("READY"));
    return { id };
  }

  async probe(id: string): Promise<HealthProbe | undefined> {
    this.calls.push({ op: "probe", id });
    await this.held("probe");
    this.throwIfFailing("probe");
    if (!this.supervised.has(id) || !this.disk.get(id)?.kernelAlive) return undefined;
    const reason = this.silent.get(id);
    return reason === undefined ? { healthy: true } : { healthy: false, reason };
  }

  /** What usage answers, per machine: tests move it to make a machine active. */
  readonly usages = new Map<string, MachineUsage>();

  async usage(id: string): Promise<MachineUsage | undefined> {
    if (!this.supervised.has(id)) return undefined;
    return this.usages.get(id) ?? { cpuSeconds: 0, bytes: 0 };
  }

  /** What runCheck answers: by default, exit 0 with the script echoed. */
  checkResult: (id: string, script: string) => CheckRun = (_id, script) => ({ exitCode: 0, output: script });

  async runCheck(id: string, script: string): Promise<CheckRun> {
    this.calls.push({ op: "runCheck", id, script });
    if (!this.disk.get(id)?.kernelAlive) return { error: "no such machine running here", output: "" };
    return this.checkResult(id, script);
  }

  terminalKey?: string;

  setTerminalKey(publicKey: string): void {
    this.terminalKey = publicKey;
  }

  async setSshKeys(id: string, keys: readonly string[]): Promise<boolean> {
    const machine = this.disk.get(id);
    if (!machine || (machine.spec.sshPublicKeys ?? []).join("\n") === keys.join("\n")) return false;
    machine.spec = { ...machine.spec, sshPublicKeys: [...keys] };
    this.calls.push({ op: "setSshKeys", id, keys });
    return true;
  }

  async rebootGeneration(id: string): Promise<number> {
    return this.disk.get(id)?.rebootGeneration ?? 0;
  }

  async localIds(): Promise<string[]> {
    return [...this.disk.keys()];
  }

  isSupervised(id: string): boolean {
    return this.supervised.has(id);
  }

  consoleOffset(id: string): number | undefined {
    return this.supervised.has(id) ? this.disk.get(id)?.consoleBytes : undefined;
  }

  async detach(): Promise<void> {
    this.calls.push({ op: "detach" });
    this.supervised.clear();
  }

  async imageVersions(): Promise<HeldImageVersion[]> {
    return this.images;
  }

  async collectImages(): Promise<Map<string, number[]>> {
    this.calls.push({ op: "collectImages" });
    return new Map();
  }

  async syncImage(image: string, source: string, options: SyncImageOptions = {}): Promise<{ sizeBytes: number }> {
    this.calls.push({ op: "syncImage", image, source, version: options.version });
    await this.held("syncImage");
    this.throwIfFailing("syncImage");
    options.onProgress?.({ phase: "transfer", bytes: 1, percent: 50 });
    options.onProgress?.({ phase: "transfer", bytes: 2, percent: 100 });
    options.onProgress?.({ phase: "build" });
    return { sizeBytes: 4096 };
  }

  private async held(step: Step): Promise<void> {
    await this.holds.get(step)?.shift();
  }

  private throwIfFailing(step: Step): void {
    const failure = this.failures.get(step)?.shift();
    if (failure) throw failure.error;
  }
}
