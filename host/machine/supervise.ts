import { dirname } from "node:path";
import type { SshHostKey } from "../../core/index.js";
import { type MachineEvent, type MachineEventSink, machineEvent, stateChanged } from "../../core/index.js";
import { ConsoleFollower } from "../console/follow.js";
import { parseConsoleLine } from "../console/parse.js";
import { failpoint } from "../failpoints.js";
import { watchLimits } from "../jail/limit-watch.js";
import { allowAddress } from "../network/port-security.js";
import { waitForHostKey } from "../ready/probe.js";
import { isKernelOf } from "../uml/process.js";
import { type MachineRecord, writeRecord } from "./record.js";

export interface ReadyInfo {
  ip: string;
  port: number;
  mac: string;
  hostKeys: SshHostKey[];
}

const KEEP_LINES = 30;
/** How long after a lease the key probe waits for sshd's own "started" line. */
const SSHD_WAIT_MS = 2000;

/**
 * Watches one running kernel: turns its console into events, verifies
 * readiness from outside, and notices when it fails or exits.
 */
export class Supervisor {
  readonly ready: Promise<ReadyInfo>;
  /** Settles with the reason once the machine has failed (never rejects). */
  readonly failed: Promise<string>;
  private resolveReady!: (info: ReadyInfo) => void;
  private rejectReady!: (error: Error) => void;
  private resolveFailed!: (reason: string) => void;
  private follower: ConsoleFollower;
  private lastLines: string[] = [];
  private probe?: AbortController;
  private lease?: { ip: string; mac: string };
  private leaseTimer?: NodeJS.Timeout;
  private sshdUp = false;
  /** Settles once the tap passes the kernel's leased address (at once without port security). */
  private addressAllowed?: Promise<void>;
  private bootTimer?: NodeJS.Timeout;
  private done = false;
  private readonly quietUntil: number;
  private stopping = false;
  private readonly stopWatchingLimits: () => void;
  isReady = false;
  /** Where the host last proved this boot's host key: what health probes ask (never an address it merely printed). */
  proven?: { ip: string; port: number };

  constructor(
    readonly record: MachineRecord,
    private readonly sink: MachineEventSink,
    exited: Promise<{ exitCode?: number; signal?: string }>,
    options: { bootTimeoutMs: number; quietUntil?: number },
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.failed = new Promise((resolve) => {
      this.resolveFailed = resolve;
    });
    // Lines up to quietUntil were reported by an earlier agent: read them for state, do not report them again.
    this.quietUntil = options.quietUntil ?? 0;
    this.follower = new ConsoleFollower(record.consoleLog, (line, end) => this.onLine(line, end));
    this.stopWatchingLimits = watchLimits(record, (event) => this.emit(event));
    this.bootTimer = setTimeout(
      () => this.fail(`not ready within ${options.bootTimeoutMs / 1000} s`),
      options.bootTimeoutMs,
    );
    exited.then(({ exitCode, signal }) => {
      if (this.stopping) return;
      void this.follower
        .read()
        .then(() => this.fail(`kernel exited ${signal ? `on ${signal}` : `with code ${exitCode}`}`));
    });
  }

  async start(): Promise<void> {
    await this.follower.start();
  }

  get consoleOffset(): number {
    return this.follower.offset;
  }

  get consoleTail(): string[] {
    return [...this.lastLines];
  }

  /** The kernel is about to be stopped on purpose: its exit is no failure. */
  expectExit(): void {
    this.stopping = true;
    this.finish();
  }

  /** Reads the console to its end and stops watching. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.finish();
    await this.follower.stop().catch(() => undefined);
    this.rejectReady(new Error("machine stopped before it was ready"));
  }

  private emit(event: MachineEvent): void {
    if (!this.stopping || event.kind === "ConsoleOutput" || event.kind === "BootStageReached") this.sink(event);
  }

  private onLine(line: string, endOffset: number): void {
    this.lastLines.push(line);
    if (this.lastLines.length > KEEP_LINES) this.lastLines.shift();
    const quiet = endOffset <= this.quietUntil;
    for (const event of parseConsoleLine(line)) {
      if (!quiet) this.emit(event);
      if (event.kind === "BootStageReached" && event.payload.stage === "init" && !quiet) {
        this.emit(stateChanged("RUNNING"));
      }
      if (event.kind === "DhcpLeaseAcquired") {
        this.allowKernelLease(event.payload.ip, endOffset);
        this.onLease(event.payload.ip, event.payload.mac);
      }
      if (event.kind === "SshdStarted") this.onSshd();
      if (event.kind === "BootStepFailed") this.fail(`${event.payload.step}: ${event.payload.reason}`);
      // Only the kernel, before any lease, can mean it: later a guest's own words change nothing.
      if (event.kind === "LeaseWarning" && event.payload.gaveUp && !this.lease) this.fail(event.payload.message);
    }
  }

  /**
   * The tap passes the address of this boot's first lease: the kernel's own DHCP prints it
   * before it runs init, so no guest code can have said it first. Later leases (a guest's
   * words) move nothing; a probe of them finds no way through.
   */
  private allowKernelLease(ip: string, endOffset: number): void {
    const { record } = this;
    if (!record.portSecurity || this.addressAllowed || this.done) return;
    if (endOffset <= (record.bootConsoleOffset ?? 0)) return;
    this.addressAllowed = allowAddress(record.tap, ip, record.allowedAddress, record.netns).then(async () => {
      record.allowedAddress = ip;
      await writeRecord(dirname(record.consoleLog), record);
    });
    this.addressAllowed.catch((error: Error) => this.fail(`port security: ${error.message}`));
  }

  /**
   * The key probe starts once both the lease and sshd's start are on the console (or 2 s
   * after the lease without the latter): probing an sshd that is not listening yet only
   * spends processes, which ten machines booting at once cannot afford.
   */
  private onLease(ip: string, mac: string): void {
    // The lease the probe already has (a guest saying it again) changes nothing.
    if (this.lease?.ip === ip && this.lease.mac === mac) return;
    this.lease = { ip, mac };
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    if (this.sshdUp) this.verify(ip, mac);
    else this.leaseTimer = setTimeout(() => this.verify(ip, mac), SSHD_WAIT_MS);
  }

  private onSshd(): void {
    this.sshdUp = true;
    if (!this.lease) return;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.verify(this.lease.ip, this.lease.mac);
  }

  /** READY only once the host itself has seen this machine's key at the leased address. */
  private verify(ip: string, mac: string): void {
    if (this.done) return;
    this.probe?.abort();
    const probe = new AbortController();
    this.probe = probe;
    const [hostKey] = this.record.hostKeys;
    if (!hostKey) return;
    const allowed = this.record.portSecurity ? this.addressAllowed : Promise.resolve();
    // Without an allowed address (a lease the kernel never printed) no answer could come through.
    if (!allowed) return;
    allowed
      .then(() => waitForHostKey(ip, 22, hostKey, { netns: this.record.netns, signal: probe.signal }))
      .then(() => failpoint("before-ready"))
      // A kernel that died after its sshd answered is not READY: its exit, noticed or not yet, fails it.
      .then(() => (this.record.pid === undefined ? true : isKernelOf(this.record.pid, this.record.umid)))
      .then(
        (alive) => {
          if (this.done || !alive || probe.signal.aborted) return;
          this.isReady = true;
          this.proven = { ip, port: 22 };
          const info = { ip, port: 22, mac, hostKeys: this.record.hostKeys };
          if (this.bootTimer) clearTimeout(this.bootTimer);
          this.emit(machineEvent("SshReady", { ip, port: 22, hostKeys: info.hostKeys }));
          this.emit(stateChanged("READY"));
          this.resolveReady(info);
        },
        () => undefined,
      );
  }

  private finish(): void {
    this.done = true;
    this.stopWatchingLimits();
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.probe?.abort();
    if (this.bootTimer) clearTimeout(this.bootTimer);
  }

  private fail(reason: string): void {
    if (this.stopping) return;
    this.finish();
    this.stopping = true;
    this.rejectReady(new Error(reason));
    this.resolveFailed(reason);
  }
}
