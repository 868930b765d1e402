import {
  canReach,
  GaolError,
  type Log,
  type MachineEvent,
  type MachineEventSink,
  type MachineState,
  RUNNING_STATES,
  stateChanged,
} from "../core/index.js";
import type { CheckRun, MachineDriver } from "../host/driver.js";
import type { AgentMachineFragment } from "./api/generated.js";
import { localId, machineGlobalId } from "./api/ids.js";
import { KeyedQueue } from "./keyed-queue.js";

/** States of a boot not yet proved: a machine half made in one of them is made again, not failed. */
const BEFORE_READY: readonly MachineState[] = ["PENDING", "PROVISIONING", "BOOTING", "RUNNING"];

/** A sink that says BOOTING before the first thing it passes on. */
function bootingFirst(sink: MachineEventSink): MachineEventSink {
  let said = false;
  return (event) => {
    if (!said) sink(stateChanged("BOOTING"));
    said = true;
    sink(event);
  };
}

/** A machine as the api places it on this host: what the reconciler converges. */
export type ApiMachine = AgentMachineFragment;

export interface ReconcilerOptions {
  driver: MachineDriver;
  /** Sends one event of a machine (by its global id) to the api. */
  report: (machineId: string, event: MachineEvent) => void;
  /** How far the previous agent reported a machine's console (an adopt resumes after it). */
  savedOffset?: (id: string) => number | undefined;
  log?: Log;
  /** Provision attempts before the machine goes FAILED; a GaolError fails it at once. */
  attempts?: number;
  /** The wait before retry n (1, 2, …) of a provision. */
  retryDelayMs?: (retry: number) => number;
  /** Sends how a lab check went in a machine (by its global id) to the api. */
  reportCheck?: (machineId: string, checkId: string, run: CheckRun) => Promise<void>;
}

interface Known {
  /** The newest the api said of it, with the states this agent reported since folded in. */
  machine?: ApiMachine;
  /** No live machine owns it: a list read after this host's ids left it out. */
  orphan?: boolean;
  /** Failed provision attempts in a row. */
  failures: number;
  /** A provision's backoff is running: its timer provisions again. */
  retry?: NodeJS.Timeout;
  /** How many resyncs had started when it was DESTROYED or removed: a later list that leaves it out forgets it. */
  settledAt?: number;
  /** The last state this agent reported: what it says again when the api has the machine LOST. */
  reported?: MachineState;
}

/**
 * Converges each machine the api places here with what runs here, level-triggered: every change
 * and every resync records the machine's newest desired state and asks for a run; one keyed queue
 * runs at most one convergence per machine at a time, and the next one reads the newest input
 * (never a stale one in turn). A thrown error is logged and the next resync tries again; a
 * provision that fails is retried with backoff, and goes FAILED at once on a GaolError.
 */
export class Reconciler {
  private readonly driver: MachineDriver;
  private readonly log: Log;
  private readonly known = new Map<string, Known>();
  private readonly queue: KeyedQueue;
  private resyncing?: Promise<void>;
  private resyncs = 0;
  private stopped = false;
  /** Lab checks running or reported, as "check machine": each runs once per agent. */
  private readonly checks = new Set<string>();
  private readonly runningChecks = new Set<Promise<void>>();

  constructor(private readonly options: ReconcilerOptions) {
    this.driver = options.driver;
    this.log = options.log ?? (() => undefined);
    this.queue = new KeyedQueue(
      (id) => this.converge(id),
      (id, error) => this.log(`reconciling ${id}: ${(error as Error).message}`, { machineId: id, level: "error" }),
    );
  }

  /** Records the machine's newest state and converges it; safe with any input, stale too. */
  reconcile(machine: ApiMachine): void {
    if (this.stopped) return;
    const id = localId(machine.id);
    const known = this.entry(id);
    // An orphan's machine is DESTROYED for good: whatever an older message says of it.
    if (known.orphan) return;
    known.machine = known.machine ? newest(known.machine, machine) : machine;
    this.noteSettled(known);
    this.queue.run(id);
  }

  /**
   * Reconciles every machine `list` returns, removes what no machine owns and forgets machines
   * long gone. Reads this host's ids before the list: each was placed before the list is read,
   * so one missing from it is truly unknown. One resync at a time; a call during one joins it.
   */
  resync(list: () => Promise<ApiMachine[]>): Promise<void> {
    this.resyncing ??= this.resyncOnce(list).finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  /** The machines that are READY as far as is known (the api's word, and what was reported since) and meant to run. */
  readyIds(): string[] {
    const ready: string[] = [];
    for (const [id, known] of this.known) {
      const m = known.machine;
      if (!known.orphan && m?.state === "READY" && m.desiredState === "RUNNING") ready.push(id);
    }
    return ready;
  }

  /** Resolves once no machine has a convergence running or asked for (a backoff still waiting is not one). */
  settle(): Promise<void> {
    return this.queue.idle();
  }

  /** No convergence starts after this; resolves once the running ones are done. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const known of this.known.values()) clearTimeout(known.retry);
    await this.queue.idle();
    await Promise.all(this.runningChecks);
  }

  private async resyncOnce(list: () => Promise<ApiMachine[]>): Promise<void> {
    const started = ++this.resyncs;
    const localIds = await this.driver.localIds();
    const machines = await list();
    const listed = new Set(machines.map((m) => localId(m.id)));
    for (const [id, known] of this.known) {
      if (known.settledAt !== undefined && known.settledAt < started && !listed.has(id) && !this.queue.busy(id))
        this.known.delete(id);
    }
    for (const id of localIds) if (!listed.has(id)) this.removeOrphan(id);
    for (const machine of machines) this.reconcile(machine);
  }

  private removeOrphan(id: string): void {
    if (this.stopped) return;
    const known = this.entry(id);
    known.orphan = true;
    known.settledAt = undefined;
    clearTimeout(known.retry);
    this.queue.run(id);
  }

  /** One convergence of a machine, from the newest that is known of it. */
  private async converge(id: string): Promise<void> {
    const known = this.known.get(id);
    if (this.stopped || !known) return;
    if (known.orphan) {
      await this.driver.destroy(id);
      this.log(`removed orphan ${id}`, { machineId: id });
      known.settledAt = this.resyncs;
      return;
    }
    const m = known.machine;
    if (!m) return;
    const sink = this.sink(id);
    const local = (await this.driver.localIds()).includes(id);
    // What this agent reported last counts over the api's view, which may not have heard it yet.
    const said = known.reported ?? m.state;
    if (m.desiredState === "DESTROYED" || m.state === "DESTROYED") {
      clearTimeout(known.retry);
      known.retry = undefined;
      if (local) {
        await this.driver.destroy(id, sink);
        // Its image version may have been the last use of an old one.
        await this.driver.collectImages().catch(() => undefined);
      } else if (m.state !== "DESTROYED") sink(stateChanged("DESTROYED"));
      return;
    }
    if (local && !this.driver.isSupervised(id)) {
      // Its kernel started before the last agent died and said so: what it says now follows a BOOTING.
      const adopted = await this.driver.adopt(
        id,
        said === "PROVISIONING" ? bootingFirst(sink) : sink,
        this.options.savedOffset?.(id),
      );
      if (adopted) this.log(`re-adopted ${m.name} (${m.id})`);
      // Half made when the last agent died (adopt removed what it had): made again from the start.
      else if (BEFORE_READY.includes(said)) await this.provision(id, m, known, sink);
      else sink(stateChanged("FAILED", "its kernel stopped while no agent was watching"));
      return;
    }
    if (local) {
      const acted = await this.driver.rebootGeneration(id);
      if (m.rebootGeneration > acted) {
        // A reset asked since the last boot this host acted on, even one a later reboot overtook, gets its new disk.
        await this.driver.reboot(id, sink, m.rebootGeneration, m.resetGeneration > acted);
      }
      // Keys added through the api reach the running machine without a reboot.
      if (m.sshPublicKeys.length > 0 && (await this.driver.setSshKeys(id, m.sshPublicKeys)))
        this.log(`ssh keys of ${m.name} now ${m.sshPublicKeys.length}`);
      if (m.pendingCheck && m.state === "READY") this.startCheck(id, m, m.pendingCheck);
      // The api stopped hearing from this host for a while; the kernel ran on, and its state stands.
      if (m.state === "LOST" && known.reported) sink(stateChanged(known.reported, "its host is heard from again"));
      return;
    }
    // A provision that failed left nothing here but reported PROVISIONING (or more): its retry provisions again.
    const placed = RUNNING_STATES.includes(said) || said === "LOST";
    // PROVISIONING with nothing here: its agent died before making anything, or its reverter undid it.
    if (said === "PENDING" || said === "PROVISIONING" || (known.failures > 0 && placed)) {
      if (!known.retry) await this.provision(id, m, known, sink);
      return;
    }
    if (placed) sink(stateChanged("FAILED", "lost: this host has no trace of it"));
  }

  /**
   * Runs a lab check beside the machine's convergences, not in its queue: a script may take its
   * whole timeout, and a destroy asked meanwhile must not wait for it.
   */
  private startCheck(id: string, m: ApiMachine, check: NonNullable<ApiMachine["pendingCheck"]>): void {
    const key = `${check.id} ${id}`;
    if (this.checks.has(key) || !this.options.reportCheck) return;
    this.checks.add(key);
    const report = this.options.reportCheck;
    const running = this.driver
      .runCheck(id, check.script, check.timeoutSeconds * 1000)
      .then((run) => report(m.id, check.id, run))
      .catch((error: unknown) => {
        // Not reported: a later resync's list still shows it pending, and it runs again.
        this.checks.delete(key);
        this.log(`lab check ${check.id} on ${m.name}: ${(error as Error).message}`, {
          machineId: id,
          level: "warn",
        });
      })
      .finally(() => this.runningChecks.delete(running));
    this.runningChecks.add(running);
  }

  private async provision(id: string, m: ApiMachine, known: Known, sink: MachineEventSink): Promise<void> {
    if (!m.owner.hostUser) {
      sink(stateChanged("FAILED", `owner ${m.owner.name} has no host account (hostUser)`));
      return;
    }
    try {
      await this.driver.provision(
        {
          id,
          name: m.name,
          owner: m.owner.hostUser,
          image: m.image.name,
          imageVersion: m.imageVersion ?? undefined,
          memoryMiB: m.memoryMiB,
          sshPublicKeys: m.sshPublicKeys,
          limits: {
            processes: m.limits.processes,
            cpuWeight: m.limits.cpuWeight,
            ...(m.limits.cpuPercent ? { cpuPercent: m.limits.cpuPercent } : {}),
          },
        },
        sink,
      );
      known.failures = 0;
    } catch (error) {
      const attempts = this.options.attempts ?? 3;
      known.failures += 1;
      const reason = (error as Error).message;
      if (error instanceof GaolError || known.failures >= attempts) {
        known.failures = 0;
        sink(stateChanged("FAILED", reason));
        return;
      }
      this.log(`provisioning ${m.name} failed (${reason}); retry ${known.failures} of ${attempts - 1}`);
      const delay = (this.options.retryDelayMs ?? ((n) => 1000 * 2 ** n))(known.failures);
      known.retry = setTimeout(() => {
        known.retry = undefined;
        if (!this.stopped) this.queue.run(id);
      }, delay);
      known.retry.unref();
    }
  }

  /** Reports a machine's events; the states it reports are what is known of it from then on. */
  private sink(id: string): MachineEventSink {
    const machineId = machineGlobalId(id);
    return (event) => {
      const known = this.known.get(id);
      if (event.kind === "MachineStateChanged" && known) known.reported = event.payload.state;
      if (event.kind === "MachineStateChanged" && known?.machine) {
        known.machine = newest(known.machine, { ...known.machine, state: event.payload.state });
        this.noteSettled(known);
      }
      this.options.report(machineId, event);
    };
  }

  private entry(id: string): Known {
    let known = this.known.get(id);
    if (!known) {
      known = { failures: 0 };
      this.known.set(id, known);
    }
    return known;
  }

  private noteSettled(known: Known): void {
    if (known.machine?.state === "DESTROYED") known.settledAt ??= this.resyncs;
  }
}

/**
 * What is known after `next` arrived: its fields, but never back on what cannot be undone.
 * Changes may come in any order (a resync's list read before a change's notification): a wish
 * to destroy stays, reboot generations only rise, and a state the machine could not be in after
 * the known one is stale.
 */
function newest(known: ApiMachine, next: ApiMachine): ApiMachine {
  return {
    ...next,
    desiredState: known.desiredState === "DESTROYED" ? known.desiredState : next.desiredState,
    rebootGeneration: Math.max(known.rebootGeneration, next.rebootGeneration),
    resetGeneration: Math.max(known.resetGeneration, next.resetGeneration),
    state: canReach(known.state, next.state) ? next.state : known.state,
  };
}
