import { join } from "node:path";
import { checkOutputTail, HEARTBEAT_SECONDS, type Log } from "../core/index.js";
import type { HostConfig } from "../host/config.js";
import type { MachineDriver } from "../host/driver.js";
import { Host } from "../host/host.js";
import { freeMiB } from "../host/storage/space.js";
import { ActivityWatch } from "./activity.js";
import { ApiClient } from "./api/client.js";
import {
  HeartbeatDocument,
  HostMachinesDocument,
  MachineChangesDocument,
  PendingSyncsDocument,
  ReportActivityDocument,
  ReportEventsDocument,
  ReportLabCheckDocument,
  ReportSyncDocument,
  TerminalPublicKeyDocument,
} from "./api/generated.js";
import { localId, machineGlobalId } from "./api/ids.js";
import { ConsoleOffsets } from "./console-offsets.js";
import { HealthChecks } from "./health.js";
import { type Capacity, Heartbeat } from "./heartbeat.js";
import { ImageSyncs } from "./image-syncs.js";
import { type ApiMachine, Reconciler } from "./reconciler.js";
import { EventReporter } from "./report.js";
import { bootTimeoutMsFromEnv, healthIntervalMsFromEnv } from "./settings.js";

export interface AgentOptions {
  api: string;
  token: string;
  config: HostConfig;
  log?: Log;
  /** What this host offers; defaults from /proc/meminfo and GAOL_MAX_MACHINES. */
  capacity?: Capacity;
  heartbeatMs?: number;
  bootTimeoutMs?: number;
  /** Between two health probes of a READY machine; GAOL_HEALTH_INTERVAL_SECONDS (default 30 s) when absent, 0: none. */
  healthIntervalMs?: number;
  /** Between two samples of READY machines' CPU and traffic (idle limits); default 30 s, 0: none. */
  activityIntervalMs?: number;
  /** Drives the machines; UML on `config` (a Host) when absent. */
  driver?: MachineDriver;
}

/**
 * The host agent: a GraphQL client of the api that reconciles the desired
 * state of this host's machines with what runs here. Level-triggered: every
 * (re)connection and every heartbeat resyncs everything, every change
 * reconciles one machine. Wires the jobs: heartbeat, image syncs, reconciler,
 * health probes, console offsets and the event spool.
 */
export class Agent {
  readonly driver: MachineDriver;
  private readonly client: ApiClient;
  private readonly reporter: EventReporter;
  private readonly reconciler: Reconciler;
  private readonly heartbeat: Heartbeat;
  private readonly activity: ActivityWatch;
  private readonly health: HealthChecks;
  private readonly syncs: ImageSyncs;
  private readonly offsets: ConsoleOffsets;
  private readonly log: Log;
  private stopped = false;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? (() => undefined);
    this.driver =
      options.driver ?? new Host(options.config, { bootTimeoutMs: options.bootTimeoutMs ?? bootTimeoutMsFromEnv() });
    this.client = new ApiClient(options.api, options.token);
    const dir = join(options.config.stateDir, "agent");
    this.reporter = new EventReporter(
      dir,
      async (events) => {
        await this.client.request(ReportEventsDocument, {
          events: events.map(({ machineId, agentSeq, at, kind, payload }) => ({
            machineId,
            agentSeq,
            at,
            kind,
            payload,
          })),
        });
      },
      this.log,
    );
    this.offsets = new ConsoleOffsets(join(dir, "console-offsets.json"));
    const healthIntervalMs = options.healthIntervalMs ?? healthIntervalMsFromEnv();
    this.health = new HealthChecks({
      probe: (id) => this.driver.probe(id),
      ready: () => this.reconciler.readyIds(),
      report: (id, event) => this.reporter.push(machineGlobalId(id), event),
      intervalMs: healthIntervalMs,
      log: this.log,
    });
    this.activity = new ActivityWatch({
      usage: (id) => this.driver.usage(id),
      ready: () => this.reconciler.readyIds(),
      report: async (seen) => {
        await this.client.request(ReportActivityDocument, {
          activity: seen.map((a) => ({ machineId: machineGlobalId(a.id), at: a.at.toISOString(), kind: a.kind })),
        });
      },
      intervalMs: options.activityIntervalMs ?? 30_000,
      probeIntervalMs: healthIntervalMs,
      log: this.log,
    });
    this.reconciler = new Reconciler({
      driver: this.driver,
      report: (machineId, event) => {
        this.health.observe(localId(machineId), event);
        this.reporter.push(machineId, event);
      },
      savedOffset: (id) => this.offsets.saved(id),
      log: this.log,
      reportCheck: async (machineId, checkId, run) => {
        // The api keeps a check's tail; sending more than that is waste.
        const output = checkOutputTail(run.output);
        await this.client.request(ReportLabCheckDocument, {
          checkId,
          machineId,
          output,
          ...("error" in run ? { error: run.error } : { exitCode: run.exitCode }),
        });
      },
    });
    this.heartbeat = new Heartbeat({
      send: (beat) => this.client.request(HeartbeatDocument, beat),
      images: () => this.driver.imageVersions(),
      capacity: options.capacity,
      rootFreeMiB: () => freeMiB(options.config.root),
      log: this.log,
    });
    this.syncs = new ImageSyncs({
      pending: async () => (await this.client.request(PendingSyncsDocument)).pendingImageSyncs,
      report: (syncId, report) => this.client.request(ReportSyncDocument, { report: { syncId, ...report } }),
      driver: this.driver,
      log: this.log,
    });
  }

  /** The UML driver (tests reach the host library through it). */
  get host(): Host {
    if (!(this.driver instanceof Host)) throw new Error("this agent drives its machines with another driver");
    return this.driver;
  }

  /** Refuses (HostConfigError) a host no machine could boot on, before it offers any capacity. */
  async start(): Promise<void> {
    await this.driver.check();
    // In the background: the first boot finds the kernel measured.
    this.driver.warmUp();
    const afterBeat = (took: boolean) => {
      if (took) void this.syncs.run();
    };
    afterBeat(await this.heartbeat.beat());
    await this.learnTerminalKey();
    // After every beat (not the first: start resyncs below) the machines are resynced too.
    this.heartbeat.every(this.options.heartbeatMs ?? HEARTBEAT_SECONDS * 1000, async (took) => {
      afterBeat(took);
      await this.resyncLogged();
    });
    this.client.onConnected(() => {
      this.heartbeat.forgetImages();
      this.reporter.kick();
      void this.resyncLogged();
    });
    await this.resync();
    void this.follow();
    this.health.start();
    this.activity.start();
  }

  /** The api's terminal key, for the guests; without it (an older api) the page's terminals do not get in. */
  private async learnTerminalKey(): Promise<void> {
    try {
      const { terminalPublicKey } = await this.client.request(TerminalPublicKeyDocument, {});
      this.driver.setTerminalKey(terminalPublicKey);
    } catch (error) {
      this.log(`no terminal key from the api, so no terminals in the page: ${(error as Error).message}`);
    }
  }

  /**
   * Reconciles every machine the api places here, and removes what no machine owns. Runs on
   * start, on every (re)connection and after every heartbeat: a machine placed here before the
   * change subscription was live (or whose notification was lost) is picked up within a beat.
   */
  resync(): Promise<void> {
    return this.reconciler.resync(() => this.listMachines());
  }

  /** Converges one machine; safe to call any number of times, with stale input too. */
  reconcile(machine: ApiMachine): void {
    this.reconciler.reconcile(machine);
  }

  /** Waits for in-flight work and for every event to reach the api. */
  async settle(): Promise<void> {
    await this.reconciler.settle();
    await this.reporter.drain();
  }

  /** Leaves the machines running (a new agent re-adopts them) and stops talking to the api. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.syncs.stop();
    this.heartbeat.stop();
    await this.health.stop();
    await this.activity.stop();
    await this.reconciler.stop();
    await this.offsets.save(this.driver);
    await this.reporter.drain().catch(() => undefined);
    await this.reporter.stop();
    // No new machines while no agent is here; the next start offers its capacity again.
    await this.heartbeat.goodbye();
    await this.driver.detach();
    await this.client.close();
  }

  private async resyncLogged(): Promise<void> {
    if (!this.stopped) await this.resync().catch((error) => this.log(`resync failed: ${(error as Error).message}`));
  }

  private async listMachines(): Promise<ApiMachine[]> {
    const machines: ApiMachine[] = [];
    let after: string | null | undefined;
    do {
      const page = (await this.client.request(HostMachinesDocument, { after })).machines;
      machines.push(...page.edges.map((edge) => edge.node));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    return machines;
  }

  private async follow(): Promise<void> {
    try {
      for await (const { machines } of this.client.subscribe(MachineChangesDocument)) {
        if (this.stopped) return;
        this.reconciler.reconcile(machines);
      }
    } catch (error) {
      if (!this.stopped) this.log(`machine subscription ended: ${(error as Error).message}`);
    }
  }
}
