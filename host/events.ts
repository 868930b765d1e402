import type { SshHostKey } from "./keys/hostkeys.js";

export type MachineState =
  | "PENDING"
  | "PROVISIONING"
  | "BOOTING"
  | "RUNNING"
  | "READY"
  | "STOPPING"
  | "DESTROYED"
  | "FAILED";

/** What the agent reports about a machine, in the order it happened. */
export type MachineEvent =
  | { kind: "state"; state: MachineState; reason?: string; lastConsoleLines?: string[] }
  | { kind: "console"; text: string }
  | { kind: "stage"; stage: string; uptime?: number; fields: Record<string, string> }
  | { kind: "lease"; ip: string; mac: string; leaseSeconds?: number }
  | { kind: "home"; path: string }
  | { kind: "sshd"; port: number }
  | { kind: "ready"; ip: string; port: number; hostKeys: SshHostKey[] }
  | { kind: "failure"; step: string; reason: string };

export type EventSink = (event: MachineEvent) => void;
