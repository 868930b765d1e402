import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  type MachineEventSink,
  MachineExistsError,
  type MachineSpec,
  type MachineUsage,
  stateChanged,
  VNC_PORT,
  validateSpec,
  validateSshKeys,
} from "../core/index.js";
import { type HostConfig, paths } from "./config.js";
import type { CheckRun, HealthProbe, HeldImageVersion, MachineDriver } from "./driver.js";
import { collectImageVersions } from "./image/gc.js";
import { type SyncImageOptions, syncImage } from "./image/sync.js";
import { allVersions, imageNames, newestVersion, versionOf } from "./image/versions.js";
import { MachineCgroup } from "./jail/cgroup.js";
import { kernelLpj } from "./kernel/calibrate.js";
import { kernelFeatures } from "./kernel/features.js";
import { type CheckKey, checkKey, runCheckScript } from "./machine/check.js";
import { createAndLaunch, launchKernel, replaceRootDisk, writeAuthorizedKeys } from "./machine/provision.js";
import { type MachineRecord, readRecord } from "./machine/record.js";
import { type ReadyInfo, Supervisor } from "./machine/supervise.js";
import { stopKernel, sweep, teardown } from "./machine/teardown.js";
import { guardTap } from "./network/port-security.js";
import { rejoinBridge } from "./network/rejoin.js";
import { tapBytes } from "./network/tap.js";
import { lookupAccount } from "./owner/account.js";
import { hostKeyProblem } from "./ready/probe.js";
import { Reverter } from "./reverter.js";
import { checkHost } from "./setup/preflight.js";
import { isKernelOf } from "./uml/process.js";

export interface MachineHandle {
  record: MachineRecord;
  /** Resolves once ssh at the leased address presents this machine's host key. */
  ready: Promise<ReadyInfo>;
}

/**
 * The UML machine driver: provisions, supervises and destroys the UML
 * machines of this host, keyed by machine id. One operation at a time per id.
 * Constructing one starts nothing; warmUp() measures the kernel.
 */
/**
 * A pty, and forwarding only to the desktop's VNC server on the guest's loopback: the api's
 * terminal key gets nothing else of sshd (no agent or X11 forwarding, no other ports).
 */
const TERMINAL_KEY_OPTIONS = `restrict,pty,port-forwarding,permitopen="127.0.0.1:${VNC_PORT}"`;

export class Host implements MachineDriver<MachineHandle> {
  private readonly supervisors = new Map<string, Supervisor>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly config: HostConfig,
    private readonly options: { bootTimeoutMs: number } = { bootTimeoutMs: 120_000 },
  ) {}

  private checkKeyMade?: Promise<CheckKey>;

  /** The host's lab-check key, made once per state dir: every machine's authorized_keys holds it. */
  private terminalKeyLine?: string;

  setTerminalKey(publicKey: string): void {
    const [key] = validateSshKeys([publicKey]);
    this.terminalKeyLine = `${TERMINAL_KEY_OPTIONS} ${key}`;
  }

  /** The host's own lines after the user's: the lab check key, and the api's terminal key once known. */
  private async hostKeyLines(): Promise<string[]> {
    const lines = [(await this.checkKey()).authorizedLine];
    if (this.terminalKeyLine) lines.push(this.terminalKeyLine);
    return lines;
  }

  private checkKey(): Promise<CheckKey> {
    this.checkKeyMade ??= checkKey(join(this.config.stateDir, "check-key"));
    return this.checkKeyMade;
  }

  /** The machine's CPU time (its cgroup's; 0 without isolation) and its tap's bytes, as this host counts them. */
  async usage(id: string): Promise<MachineUsage | undefined> {
    const record = this.supervisors.get(id)?.record;
    if (!record) return undefined;
    const cpuSeconds = record.limits ? await (await MachineCgroup.of(id)).cpuSeconds() : 0;
    // A machine destroyed while it was sampled has no tap any more: no usage, not an error.
    const bytes = await tapBytes(record.tap, record.netns).catch((error: unknown) => {
      if (this.supervisors.has(id)) throw error;
      return undefined;
    });
    return bytes === undefined ? undefined : { cpuSeconds, bytes };
  }

  /** Runs a lab check in a READY machine this host watches, where its sshd proved its host key. */
  async runCheck(id: string, script: string, timeoutMs: number): Promise<CheckRun> {
    const supervisor = this.supervisors.get(id);
    const at = supervisor?.proven;
    if (!supervisor || !at) return { error: "the machine is not READY on this host", output: "" };
    const { record } = supervisor;
    return runCheckScript(await this.checkKey(), { ...at, netns: record.netns }, record.hostKeys, script, timeoutMs);
  }

  /** Refuses a host no machine could boot on (see hostProblems): at start, not as a kernel panic per machine. */
  check(): Promise<void> {
    return checkHost(this.config);
  }

  /** Calibrates the kernel (a kernel boot of its own) and reads its features in the background, once per process. */
  warmUp(): void {
    // Measured before the first machine needs them, so its boot does not wait (see kernelLpj).
    void kernelLpj(this.config.kernel);
    void kernelFeatures(this.config.kernel);
  }

  /** Validates, makes every resource (undone on failure), boots, and returns at once; READY comes later. */
  provision(spec: MachineSpec, sink: MachineEventSink): Promise<MachineHandle> {
    const id = spec.id ?? spec.name;
    return this.exclusive(id, async () => {
      const checked = validateSpec(spec);
      const valid = { ...checked, sshPublicKeys: [...checked.sshPublicKeys, ...(await this.hostKeyLines())] };
      const owner = await lookupAccount(valid.owner);
      const version =
        valid.imageVersion === undefined
          ? await newestVersion(this.config, valid.image)
          : await versionOf(this.config, valid.image, valid.imageVersion);
      if (existsSync(paths.machine(this.config, valid.id))) throw new MachineExistsError(valid.name);
      sink(stateChanged("PROVISIONING"));
      const { record, exited } = await Reverter.run(async (reverter) => {
        const launched = await createAndLaunch(this.config, valid, owner, version, reverter);
        sink(stateChanged("BOOTING"));
        return launched;
      });
      const supervisor = new Supervisor(record, sink, exited, this.options);
      await supervisor.start();
      this.watch(record, supervisor, sink);
      return { record, ready: supervisor.ready };
    });
  }

  /**
   * Takes over a machine whose kernel outlived a previous agent: its console
   * is read from the start for state (the lease to verify readiness again) but
   * reported only past consoleOffset (what the previous agent reported); its
   * exit is noticed by polling. Returns undefined (after cleaning up) when the kernel is gone.
   */
  adopt(id: string, sink: MachineEventSink, consoleOffset?: number): Promise<MachineHandle | undefined> {
    return this.exclusive(id, async () => {
      const dir = paths.machine(this.config, id);
      const record = await readRecord(dir);
      if (this.supervisors.has(id)) return undefined;
      if (!record) {
        await sweep(this.config, id);
        return undefined;
      }
      if (record.pid === undefined || !(await isKernelOf(record.pid, record.umid))) {
        await teardown(record, dir);
        return undefined;
      }
      // The rules may be older than this agent, or gone (a flushed ruleset): make them whole again.
      if (record.portSecurity) await guardTap(record.tap, record.mac, record.netns);
      const quietUntil = consoleOffset ?? (await stat(record.consoleLog).catch(() => ({ size: 0 }))).size;
      const supervisor = new Supervisor(record, sink, pollExit(record), { ...this.options, quietUntil });
      await supervisor.start();
      this.watch(record, supervisor, sink);
      return { record, ready: supervisor.ready };
    });
  }

  /**
   * Stops and removes a machine; a machine that does not exist is already
   * destroyed. `graceful` asks the guest to shut down cleanly (ctrl-alt-del)
   * and waits up to 15 s; otherwise the kernel gets SIGKILL at once (its disk
   * is discarded, so nothing inside needs a clean stop). Resolves to
   * whether the kernel exited by itself.
   */
  destroy(
    id: string,
    sink: MachineEventSink = () => undefined,
    options: { graceful?: boolean } = {},
  ): Promise<boolean> {
    return this.exclusive(id, async () => {
      const dir = paths.machine(this.config, id);
      const record = await readRecord(dir);
      if (!record) {
        // Half made by an agent that died: nothing ran, but a tap or a disk may be there.
        if (existsSync(dir)) {
          await sweep(this.config, id);
          sink(stateChanged("DESTROYED"));
        }
        return true;
      }
      sink(stateChanged("STOPPING"));
      const supervisor = this.supervisors.get(id);
      this.supervisors.delete(id);
      supervisor?.expectExit();
      const clean = await teardown(record, dir, options.graceful ? { how: "cad", graceMs: 15_000 } : { how: "kill" });
      await supervisor?.stop();
      sink(stateChanged("DESTROYED"));
      return clean;
    });
  }

  /**
   * Restarts the kernel on the same disk, tap and keys (a new boot, a new
   * umid): a clean shutdown first, a halt if the guest takes over 15 s.
   * `generation` is remembered so the same reboot request is acted on once.
   */
  reboot(id: string, sink: MachineEventSink, generation: number, fresh = false): Promise<MachineHandle | undefined> {
    return this.exclusive(id, async () => {
      const dir = paths.machine(this.config, id);
      const record = await readRecord(dir);
      if (!record || (record.rebootGeneration ?? 0) >= generation) return undefined;
      const supervisor = this.supervisors.get(id);
      this.supervisors.delete(id);
      supervisor?.expectExit();
      const why = fresh ? "reset to its image" : "reboot";
      sink(stateChanged("STOPPING", why));
      await stopKernel(record, { how: "cad", graceMs: 15_000 });
      await supervisor?.stop();
      if (fresh) await replaceRootDisk(this.config, record, dir);
      record.rebootGeneration = generation;
      sink(stateChanged("BOOTING", why));
      const launched = await launchKernel(record, dir);
      const next = new Supervisor(record, sink, launched.exited, {
        ...this.options,
        quietUntil: (await stat(record.consoleLog)).size,
      });
      await next.start();
      this.watch(record, next, sink);
      return { record, ready: next.ready };
    });
  }

  /**
   * One health probe: its tap back on its bridge if that was made again, then the same
   * host-key proof as READY, at the address where this boot was proved. Undefined while the boot has no proof yet (or no kernel is watched). Takes no lock:
   * it changes nothing, and a destroy or reboot must not wait for a probe's timeout.
   */
  async probe(id: string): Promise<HealthProbe | undefined> {
    const supervisor = this.supervisors.get(id);
    const [hostKey] = supervisor?.record.hostKeys ?? [];
    const at = supervisor?.proven;
    if (!supervisor || !at || !hostKey) return undefined;
    const offBridge = await rejoinBridge(supervisor.record, this.config.portIsolation).catch(
      (error: Error) => `its tap could not be put back on its bridge: ${error.message}`,
    );
    if (offBridge) return { healthy: false, reason: offBridge };
    const problem = await hostKeyProblem(at.ip, at.port, hostKey, { netns: supervisor.record.netns });
    return problem === undefined ? { healthy: true } : { healthy: false, reason: problem };
  }

  /** The reboot generation a machine last acted on (0 when never rebooted or unknown). */
  async setSshKeys(id: string, keys: readonly string[]): Promise<boolean> {
    const record = await readRecord(paths.machine(this.config, id));
    if (!record) throw new Error(`no machine ${id} on this host`);
    // The api checked them; the host checks again, since they reach a file the guest reads.
    const valid = [...validateSshKeys(keys), ...(await this.hostKeyLines())];
    const file = join(record.guestConfigDir, "authorized_keys");
    const now = await readFile(file, "utf8").catch(() => "");
    if (now === valid.map((k) => `${k}\n`).join("")) return false;
    await writeAuthorizedKeys(record.guestConfigDir, valid, record.owner);
    return true;
  }

  async rebootGeneration(id: string): Promise<number> {
    return (await readRecord(paths.machine(this.config, id)))?.rebootGeneration ?? 0;
  }

  /** Which versions of each image the machines here were made from. */
  async imageVersionsInUse(): Promise<Map<string, Set<number>>> {
    const inUse = new Map<string, Set<number>>();
    for (const id of await this.localIds()) {
      const record = await readRecord(paths.machine(this.config, id));
      if (!record) continue;
      const versions = inUse.get(record.image) ?? new Set<number>();
      versions.add(record.imageVersion);
      inUse.set(record.image, versions);
    }
    return inUse;
  }

  /** Deletes image versions no machine here uses and a newer one replaced (see collectImageVersions). */
  async collectImages(graceMs?: number): Promise<Map<string, number[]>> {
    const inUse = await this.imageVersionsInUse();
    const collected = new Map<string, number[]>();
    for (const image of await imageNames(this.config)) {
      const gone = await collectImageVersions(this.config, image, inUse.get(image) ?? new Set(), graceMs);
      if (gone.length) collected.set(image, gone);
    }
    return collected;
  }

  /** Every image version on this host, with its size. */
  async imageVersions(): Promise<HeldImageVersion[]> {
    return (await allVersions(this.config)).map(({ image, version, sizeBytes }) => ({ image, version, sizeBytes }));
  }

  /** Syncs an image's master and builds a version (see syncImage); then collects what it replaced. */
  async syncImage(image: string, source: string, options: SyncImageOptions = {}) {
    const synced = await syncImage(this.config, image, source, options);
    await this.collectImages().catch(() => undefined);
    return synced;
  }

  /** Ids of the machines that have a directory on this host (supervised or not). */
  async localIds(): Promise<string[]> {
    return readdir(paths.machines(this.config)).catch(() => [] as string[]);
  }

  isSupervised(id: string): boolean {
    return this.supervisors.has(id);
  }

  /** How far the console of a supervised machine has been read (to resume after a restart). */
  consoleOffset(id: string): number | undefined {
    return this.supervisors.get(id)?.consoleOffset;
  }

  /** Stops watching every machine without touching them (the agent is going away; the machines stay). */
  async detach(): Promise<void> {
    for (const supervisor of this.supervisors.values()) {
      supervisor.expectExit();
      await supervisor.stop();
    }
    this.supervisors.clear();
  }

  private watch(record: MachineRecord, supervisor: Supervisor, sink: MachineEventSink): void {
    this.supervisors.set(record.id, supervisor);
    supervisor.failed.then((reason) =>
      this.exclusive(record.id, async () => {
        if (this.supervisors.get(record.id) !== supervisor) return;
        this.supervisors.delete(record.id);
        await supervisor.stop();
        const leftover = await teardown(record, paths.machine(this.config, record.id)).then(
          () => "",
          (error: Error) => `; cleaning up failed: ${error.message}`,
        );
        sink(stateChanged("FAILED", reason + leftover, supervisor.consoleTail));
      }),
    );
  }

  private exclusive<T>(id: string, body: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(body);
    this.locks.set(id, next);
    next
      .finally(() => {
        if (this.locks.get(id) === next) this.locks.delete(id);
      })
      .catch(() => undefined);
    return next;
  }
}

/** An adopted kernel is not our child: notice its exit by polling its pid. */
function pollExit(record: MachineRecord): Promise<{ exitCode?: number; signal?: string }> {
  return new Promise((resolve) => {
    const timer = setInterval(async () => {
      if (record.pid === undefined || !(await isKernelOf(record.pid, record.umid))) {
        clearInterval(timer);
        resolve({ signal: "an unknown signal (the kernel was not this agent's child)" });
      }
    }, 500);
    timer.unref();
  });
}
