import type { MachineEventSink, MachineSpec, MachineUsage } from "../core/index.js";
import type { SyncImageOptions } from "./image/sync.js";

/** One image version this host holds. */
export interface HeldImageVersion {
  image: string;
  version: number;
  sizeBytes: number;
}

/** How a lab check went in a machine: its exit code and output, or why it could not run. */
export type CheckRun = { exitCode: number; output: string } | { error: string; output: string };

/** What one health probe of a READY machine found: its sshd proved the host key, or why not. */
export type HealthProbe = { healthy: true } | { healthy: false; reason: string };

/**
 * What the agent needs of a host's machines, keyed by machine id (Incus's instance drivers are
 * the model): the real driver is UML (Host), unit tests use a fake. Every event a machine has
 * goes to the sink its provision, adopt or reboot was given, also after the call returned (its
 * kernel reaching READY, or dying: FAILED). Knows nothing of the api.
 */
export interface MachineDriver<Handle extends object = object> {
  /** Refuses (HostConfigError, each problem with what to do) a host on which no machine could boot. */
  check(): Promise<void>;
  /** Starts, in the background, what the first boot would otherwise wait for; boots nothing else. */
  warmUp(): void;
  /** Makes every resource (undone on failure) and boots; resolves once it boots (READY comes later). */
  provision(spec: MachineSpec, sink: MachineEventSink): Promise<Handle>;
  /** Takes over a machine whose kernel outlived a previous agent; undefined (cleaned up) when it is gone. */
  adopt(id: string, sink: MachineEventSink, consoleOffset?: number): Promise<Handle | undefined>;
  /** Stops and removes a machine; one that does not exist is already destroyed. */
  destroy(id: string, sink?: MachineEventSink): Promise<boolean>;
  /** A new boot, unless the machine already acted on this generation; fresh: on a new root disk from its image version. */
  reboot(id: string, sink: MachineEventSink, generation: number, fresh?: boolean): Promise<Handle | undefined>;
  /** Proves the machine's host key once more, as READY did; undefined when no proven boot is watched here. */
  probe(id: string): Promise<HealthProbe | undefined>;
  /** What the host measured of a watched machine so far (CPU time, tap bytes); undefined when it is not watched here. */
  usage(id: string): Promise<MachineUsage | undefined>;
  /** Runs a lab's check script as root in a READY machine, over ssh with its host key pinned. */
  runCheck(id: string, script: string, timeoutMs: number): Promise<CheckRun>;
  /** The api's key for the page's terminals: in the guests' authorized_keys from now on, restricted by the host. */
  setTerminalKey(publicKey: string): void;
  /** The keys that may log in, written where the guest's sshd reads them; false when they already were. */
  setSshKeys(id: string, keys: readonly string[]): Promise<boolean>;
  /** The reboot generation a machine last acted on (0 when never rebooted or unknown). */
  rebootGeneration(id: string): Promise<number>;
  /** Ids of the machines this host has (supervised or not). */
  localIds(): Promise<string[]>;
  /** Whether this driver watches the machine's kernel (a machine on disk but not watched awaits adopt). */
  isSupervised(id: string): boolean;
  /** How far a supervised machine's console has been reported (an adopt resumes after it). */
  consoleOffset(id: string): number | undefined;
  /** Stops watching every machine without touching them. */
  detach(): Promise<void>;
  /** Every image version this host holds. */
  imageVersions(): Promise<HeldImageVersion[]>;
  /** Deletes image versions no machine here uses and a newer one replaced. */
  collectImages(): Promise<Map<string, number[]>>;
  /** Syncs an image and builds a version of it. */
  syncImage(image: string, source: string, options?: SyncImageOptions): Promise<{ sizeBytes: number }>;
}
