import type { FieldError } from "./fields.js";
import type { MachineState } from "./states.js";
import { checkPayload, type EventOf, type KindSpec, type PayloadOf } from "./vocabulary.js";

/**
 * Everything that can happen to a machine, by kind (each kind is also its GraphQL type's
 * name). The stored kinds, the Pothos event types, the agent's report and through the schema
 * the SDK's types all come from this map: a new kind is an entry here plus what emits and
 * what shows it.
 */
export const MACHINE_EVENTS = {
  MachineStateChanged: {
    description: "The machine entered a new state",
    fields: {
      state: { kind: "state" },
      reason: { kind: "string", optional: true },
      lastConsoleLines: { kind: "strings", optional: true, description: "On FAILED: the console's last lines" },
    },
  },
  ConsoleOutput: {
    description: "One line the machine printed on its console",
    fields: { text: { kind: "string" } },
  },
  BootStageReached: {
    description: "startenv finished a boot stage",
    fields: { stage: { kind: "string" }, uptimeSeconds: { kind: "float", optional: true } },
  },
  DhcpLeaseAcquired: {
    description: "The machine got an address from the LAN's DHCP server",
    fields: { ip: { kind: "string" }, mac: { kind: "string" }, leaseSeconds: { kind: "int", optional: true } },
  },
  LeaseWarning: {
    description: "The machine's DHCP client is not getting an answer from the LAN (the kernel retried or gave up)",
    fields: {
      message: { kind: "string", description: "What is wrong and what to check" },
      gaveUp: { kind: "string", optional: true, description: "Set when the kernel stopped asking: its own words" },
    },
  },
  MachineLimitReached: {
    description: "The machine's host cgroup stopped it at one of its limits (it is not using more than it was given)",
    fields: {
      limit: { kind: "string", description: "`processes` or `memory`" },
      count: { kind: "int", description: "How often the limit has stopped it since it started" },
      max: { kind: "int", description: "The limit: host processes, or MiB of host memory" },
    },
  },
  HomeMounted: {
    description: "The owner's host home is mounted inside",
    fields: { path: { kind: "string" } },
  },
  SshdStarted: {
    description: "sshd started inside (not yet verified from outside)",
    fields: { port: { kind: "int" } },
  },
  SshReady: {
    description: "The host connected to ip:port and saw this machine's own host key",
    fields: { ip: { kind: "string" }, port: { kind: "int" }, hostKeys: { kind: "hostKeys" } },
  },
  BootStepFailed: {
    description: "A boot step failed inside the machine",
    fields: { step: { kind: "string" }, reason: { kind: "string" } },
  },
  MachineUnresponsive: {
    description:
      "The host's health probe of this READY machine failed several times in a row: its sshd no longer proves its host key (the machine stays READY; a reboot usually helps)",
    fields: {
      reason: { kind: "string", description: "What the last probe saw" },
      failures: { kind: "int", description: "Probes failed in a row" },
      since: { kind: "dateTime", description: "When the first of them failed" },
    },
  },
  MachineResponsive: {
    description: "The host's health probe gets this machine's host key proof again, after MachineUnresponsive",
    fields: { unresponsiveSeconds: { kind: "float", description: "How long it did not answer" } },
  },
  MachineExpiring: {
    description: "A lab machine's lease ends soon: at `endsAt` it is destroyed (the owner's home directory is kept)",
    fields: {
      endsAt: { kind: "dateTime" },
      secondsLeft: { kind: "int" },
      extensionLeftSeconds: { kind: "int", description: "How much more gaol extend may add" },
      message: { kind: "string", description: "What happens, when, and what the student can do" },
    },
  },
  MachineLeaseExtended: {
    description: "A lab machine's lease was extended",
    fields: {
      endsAt: { kind: "dateTime" },
      bySeconds: { kind: "int" },
      by: { kind: "string", description: "Who extended it" },
    },
  },
} as const satisfies Record<string, KindSpec>;

export type MachineEventKind = keyof typeof MACHINE_EVENTS;
/** A machine event as emitted, reported and stored: its kind and that kind's payload. */
export type MachineEvent = EventOf<typeof MACHINE_EVENTS>;
export type MachineEventPayload<K extends MachineEventKind> = PayloadOf<(typeof MACHINE_EVENTS)[K]["fields"]>;
export type MachineEventSink = (event: MachineEvent) => void;

/** Builds one event, typed by its kind. */
export function machineEvent<K extends MachineEventKind>(
  kind: K,
  payload: MachineEventPayload<K>,
): Extract<MachineEvent, { kind: K }> {
  return { kind, payload } as unknown as Extract<MachineEvent, { kind: K }>;
}

export function stateChanged(
  state: MachineState,
  reason?: string,
  lastConsoleLines?: string[],
): Extract<MachineEvent, { kind: "MachineStateChanged" }> {
  return {
    kind: "MachineStateChanged",
    payload: {
      state,
      ...(reason !== undefined ? { reason } : {}),
      ...(lastConsoleLines !== undefined ? { lastConsoleLines } : {}),
    },
  };
}

/** Kinds only the api itself emits: an agent that reports one is refused (it would forge a lease). */
export const API_ONLY_KINDS: ReadonlySet<MachineEventKind> = new Set(["MachineExpiring", "MachineLeaseExtended"]);

export function isMachineEventKind(kind: string): kind is MachineEventKind {
  return Object.hasOwn(MACHINE_EVENTS, kind);
}

/** An event as an agent reported it (kind and payload from the wire), or its offending fields. */
export function parseMachineEvent(
  kind: string,
  payload: unknown,
  prefix = "",
): { event: MachineEvent } | { errors: FieldError[] } {
  const at = (name: string) => (prefix ? `${prefix}.${name}` : name);
  if (!isMachineEventKind(kind)) return { errors: [{ field: at("kind"), message: `is not a machine event kind` }] };
  const errors = checkPayload(MACHINE_EVENTS[kind], payload, at("payload"));
  return errors.length ? { errors } : { event: { kind, payload } as MachineEvent };
}

/** Everything that can happen to an image: syncs, their progress, versions built and collected. */
export const IMAGE_EVENTS = {
  ImageSyncRequested: {
    description: "A sync was asked for; it will build `version`",
    fields: { version: { kind: "int" }, source: { kind: "string" } },
  },
  ImageSyncProgress: {
    description: "rsync's progress on a host, then the build step",
    fields: {
      version: { kind: "int" },
      host: { kind: "string" },
      phase: { kind: "string" },
      bytes: { kind: "float", optional: true },
      percent: { kind: "int", optional: true },
      files: { kind: "int", optional: true },
    },
  },
  ImageVersionBuilt: {
    description: "A host built the version: new machines there get it",
    fields: { version: { kind: "int" }, host: { kind: "string" }, sizeBytes: { kind: "float", optional: true } },
  },
  ImageSyncFailed: {
    description: "The sync failed on a host; the previous version stays the default",
    fields: { version: { kind: "int" }, host: { kind: "string" }, reason: { kind: "string" } },
  },
  ImageVersionCollected: {
    description: "No machine used the version and a newer one exists: it is gone",
    fields: { version: { kind: "int" } },
  },
} as const satisfies Record<string, KindSpec>;

export type ImageEventKind = keyof typeof IMAGE_EVENTS;
export type ImageEvent = EventOf<typeof IMAGE_EVENTS>;
