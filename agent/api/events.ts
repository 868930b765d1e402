import type { MachineEvent } from "../../host/events.js";

export interface ApiEvent {
  kind: string;
  payload: Record<string, unknown>;
}

/** The api's name and payload for an agent event (the MachineEvent types in the schema). */
export function toApiEvent(event: MachineEvent): ApiEvent {
  switch (event.kind) {
    case "state":
      return {
        kind: "MachineStateChanged",
        payload: { state: event.state, reason: event.reason ?? null, lastConsoleLines: event.lastConsoleLines ?? [] },
      };
    case "console":
      return { kind: "ConsoleOutput", payload: { text: event.text } };
    case "stage":
      return { kind: "BootStageReached", payload: { stage: event.stage, uptimeSeconds: event.uptime ?? null } };
    case "lease":
      return {
        kind: "DhcpLeaseAcquired",
        payload: { ip: event.ip, mac: event.mac, leaseSeconds: event.leaseSeconds ?? null },
      };
    case "home":
      return { kind: "HomeMounted", payload: { path: event.path } };
    case "sshd":
      return { kind: "SshdStarted", payload: { port: event.port } };
    case "ready":
      return { kind: "SshReady", payload: { ip: event.ip, port: event.port, hostKeys: event.hostKeys } };
    case "failure":
      return { kind: "BootStepFailed", payload: { step: event.step, reason: event.reason } };
  }
}
