import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { GaolError, type MachineEventSink, RUNNING_STATES, stateChanged } from "../core/index.js";
import type { HostConfig } from "../host/config.js";
import { Host } from "../host/host.js";
import { allVersions } from "../host/image/versions.js";
import { ApiClient } from "./api/client.js";
import {
  type AgentMachineFragment as ApiMachine,
  HeartbeatDocument,
  HostMachinesDocument,
  type ImageSyncReport,
  MachineChangesDocument,
  PendingSyncsDocument,
  ReportEventsDocument,
  ReportSyncDocument,
} from "./api/generated.js";
import { localId, machineGlobalId } from "./api/ids.js";
import { EventReporter } from "./report.js";

export interface AgentOptions {
  api: string;
  token: string;
  config: HostConfig;
  log?: (line: string) => void;
  /** What this host offers; defaults from /proc/meminfo and GAOL_MAX_MACHINES. */
  capacity?: { memoryMiB: number; maxMachines: number };
  heartbeatMs?: number;
  bootTimeoutMs?: number;
}

const RETRIES = 3;
/** How long a host waits before it tries a sync that failed here again (other hosts may have built it). */
const SYNC_RETRY_MS = 10 * 60_000;

/**
 * The host agent: a GraphQL client of the api that reconciles the desired
 * state of this host's machines with what runs here. Level-triggered: every
 * (re)connection resyncs everything, every change reconciles one machine.
 */
export class Agent {
  readonly host: Host;
  private readonly client: ApiClient;
  private readonly reporter: EventReporter;
  private readonly log: (line: string) => void;
  private readonly queues = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, number>();
  private heartbeat?: NodeJS.Timeout;
  private stopped = false;
  private syncing = false;
  private beating: Promise<void> = Promise.resolve();
  private readonly failedSyncs = new Map<string, number>();
  private reportedImages?: string;
  private readonly syncAbort = new AbortController();
  private readonly offsetsFile: string;
  private resyncing?: Promise<void>;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? (() => undefined);
    this.host = new Host(options.config, { bootTimeoutMs: options.bootTimeoutMs ?? 120_000 });
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
    this.offsetsFile = join(dir, "console-offsets.json");
  }

  async start(): Promise<void> {
    // In the background: the first boot finds the kernel measured.
    this.host.warmUp();
    const beat = async () => {
      try {
        const images = (await allVersions(this.options.config)).map((v) => ({
          name: v.image,
          version: v.version,
          sizeBytes: v.sizeBytes,
        }));
        // A beat that outlives stop() would offer capacity again after the goodbye.
        if (this.stopped) return;
        // The image list goes only when it changed (or after a reconnection): the api keeps it.
        const held = JSON.stringify(images);
        const changed = held !== this.reportedImages;
        await this.client.request(HeartbeatDocument, {
          ...(this.options.capacity ?? defaultCapacity()),
          ...(changed ? { images } : {}),
        });
        if (changed) this.reportedImages = held;
        void this.runImageSyncs();
      } catch (error) {
        this.log(`heartbeat failed: ${(error as Error).message}`);
      }
    };
    this.beating = beat();
    await this.beating;
    // After every beat (not the first: start resyncs below) the machines are resynced too.
    const resyncLogged = async () => {
      if (!this.stopped) await this.resync().catch((error) => this.log(`resync failed: ${(error as Error).message}`));
    };
    this.heartbeat = setInterval(() => {
      this.beating = beat().then(resyncLogged);
    }, this.options.heartbeatMs ?? 10_000);
    this.client.onConnected(() => {
      this.reportedImages = undefined;
      this.reporter.kick();
      void resyncLogged();
    });
    await this.resync();
    void this.follow();
  }

  /**
   * Runs the image syncs the api asks of this host, one at a time, reporting rsync's
   * progress (at most once a second), then the built version or why it failed.
   */
  private async runImageSyncs(): Promise<void> {
    if (this.syncing || this.stopped) return;
    this.syncing = true;
    try {
      const { pendingImageSyncs } = await this.client.request(PendingSyncsDocument);
      for (const sync of pendingImageSyncs) {
        if (this.stopped) return;
        // A sync that failed here is tried again only after a while, not on every heartbeat.
        if ((this.failedSyncs.get(sync.id) ?? 0) > Date.now()) continue;
        const report = (fields: Omit<ImageSyncReport, "syncId">) =>
          this.client.request(ReportSyncDocument, { report: { syncId: sync.id, ...fields } });
        this.log(`syncing image ${sync.image} version ${sync.version} from ${sync.source}`);
        let last = 0;
        try {
          const built = await this.host.syncImage(sync.image, sync.source, {
            version: sync.version,
            log: this.log,
            signal: this.syncAbort.signal,
            onProgress: (progress) => {
              if (progress.phase === "transfer" && Date.now() - last < 1000) return;
              last = Date.now();
              void report({ ...progress }).catch(() => undefined);
            },
          });
          await report({ done: true, sizeBytes: built.sizeBytes });
          this.log(`image ${sync.image} version ${sync.version} built (${built.sizeBytes} bytes)`);
        } catch (error) {
          this.failedSyncs.set(sync.id, Date.now() + SYNC_RETRY_MS);
          this.log(`image ${sync.image} sync failed: ${(error as Error).message}`);
          await report({ error: (error as Error).message }).catch(() => undefined);
        }
      }
    } catch (error) {
      this.log(`image syncs: ${(error as Error).message}`);
    } finally {
      this.syncing = false;
    }
  }

  /**
   * Reconciles every machine the api places here, and removes what no machine owns. Runs on
   * start, on every (re)connection and after every heartbeat: a machine placed here before the
   * change subscription was live (or whose notification was lost) is picked up within a beat.
   */
  resync(): Promise<void> {
    this.resyncing ??= this.resyncOnce().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async resyncOnce(): Promise<void> {
    // Local ids first: each was placed before the list is read, so one missing from the list is truly unknown.
    const localIds = await this.host.localIds();
    const machines: ApiMachine[] = [];
    let after: string | null | undefined;
    do {
      const page = (await this.client.request(HostMachinesDocument, { after })).machines;
      machines.push(...page.edges.map((edge) => edge.node));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    const known = new Set(machines.map((m) => localId(m.id)));
    for (const id of localIds) {
      if (!known.has(id)) this.enqueue(id, () => this.host.destroy(id).then(() => this.log(`removed orphan ${id}`)));
    }
    for (const machine of machines) this.reconcile(machine);
  }

  private async follow(): Promise<void> {
    try {
      for await (const { machines } of this.client.subscribe(MachineChangesDocument)) {
        if (this.stopped) return;
        this.reconcile(machines);
      }
    } catch (error) {
      if (!this.stopped) this.log(`machine subscription ended: ${(error as Error).message}`);
    }
  }

  /** Converges one machine; safe to call any number of times, with stale input too. */
  reconcile(machine: ApiMachine): void {
    this.enqueue(localId(machine.id), () => this.converge(machine));
  }

  private async converge(m: ApiMachine): Promise<void> {
    if (this.stopped) return;
    const id = localId(m.id);
    const sink = this.sink(id);
    const local = (await this.host.localIds()).includes(id);
    if (m.desiredState === "DESTROYED" || m.state === "DESTROYED") {
      if (local) {
        await this.host.destroy(id, sink);
        // Its image version may have been the last use of an old one.
        await this.host.collectImages().catch(() => undefined);
      } else if (m.state !== "DESTROYED") sink(stateChanged("DESTROYED"));
      return;
    }
    if (local && !this.host.isSupervised(id)) {
      const adopted = await this.host.adopt(id, sink, this.savedOffset(id));
      if (adopted) this.log(`re-adopted ${m.name} (${m.id})`);
      else sink(stateChanged("FAILED", "its kernel stopped while no agent was watching"));
      return;
    }
    if (local) {
      if (m.rebootGeneration > (await this.host.rebootGeneration(id))) {
        await this.host.reboot(id, sink, m.rebootGeneration);
      }
      return;
    }
    if (m.state === "PENDING") return this.provision(m, sink);
    if (RUNNING_STATES.includes(m.state)) sink(stateChanged("FAILED", "lost: this host has no trace of it"));
  }

  private async provision(m: ApiMachine, sink: MachineEventSink): Promise<void> {
    if (!m.owner.hostUser) {
      sink(stateChanged("FAILED", `owner ${m.owner.name} has no host account (hostUser)`));
      return;
    }
    try {
      await this.host.provision(
        {
          id: localId(m.id),
          name: m.name,
          owner: m.owner.hostUser,
          image: m.image.name,
          imageVersion: m.imageVersion ?? undefined,
          memoryMiB: m.memoryMiB,
          sshPublicKeys: m.sshPublicKeys,
        },
        sink,
      );
      this.failures.delete(localId(m.id));
    } catch (error) {
      const attempts = (this.failures.get(localId(m.id)) ?? 0) + 1;
      this.failures.set(localId(m.id), attempts);
      const reason = (error as Error).message;
      if (error instanceof GaolError || attempts >= RETRIES) {
        sink(stateChanged("FAILED", reason));
        return;
      }
      this.log(`provisioning ${m.name} failed (${reason}); retry ${attempts} of ${RETRIES - 1}`);
      setTimeout(() => this.reconcile(m), 1000 * 2 ** attempts).unref();
    }
  }

  private sink(id: string): MachineEventSink {
    const globalId = machineGlobalId(id);
    return (event) => this.reporter.push(globalId, event);
  }

  private enqueue(id: string, work: () => Promise<void>): void {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous.then(work).catch((error) => this.log(`reconciling ${id}: ${(error as Error).message}`));
    this.queues.set(id, next);
  }

  private savedOffset(id: string): number | undefined {
    try {
      return (JSON.parse(readFileSync(this.offsetsFile, "utf8")) as Record<string, number>)[id];
    } catch {
      return undefined;
    }
  }

  /** Waits for in-flight work and for every event to reach the api. */
  async settle(): Promise<void> {
    await Promise.all(this.queues.values());
    await this.reporter.drain();
  }

  /** Leaves the machines running (a new agent re-adopts them) and stops talking to the api. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.syncAbort.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.all(this.queues.values());
    const offsets: Record<string, number> = {};
    for (const id of await this.host.localIds()) {
      const offset = this.host.consoleOffset(id);
      if (offset !== undefined) offsets[id] = offset;
    }
    writeFileSync(this.offsetsFile, JSON.stringify(offsets));
    await this.reporter.drain().catch(() => undefined);
    await this.reporter.stop();
    // No new machines while no agent is here; the next start offers its capacity again.
    await this.beating;
    await this.client.request(HeartbeatDocument, { memoryMiB: 0, maxMachines: 0 }).catch(() => undefined);
    await this.host.detach();
    await this.client.close();
  }
}

function defaultCapacity(): { memoryMiB: number; maxMachines: number } {
  let meminfo = "";
  try {
    meminfo = readFileSync("/proc/meminfo", "utf8");
  } catch {}
  const totalKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  const memoryMiB = Number(process.env.GAOL_MEMORY_MIB ?? Math.max(0, Math.floor((totalKiB / 1024) * 0.8) - 1024));
  return { memoryMiB, maxMachines: Number(process.env.GAOL_MAX_MACHINES ?? 100) };
}
