import type { MachineEvent } from "./events.js";
import { canTransition, type MachineHealth, type MachineState } from "./states.js";
import type { SshHostKey } from "./vocabulary.js";

/** The parts of a machine's record that its events change. */
export interface MachineFacts {
  state: MachineState;
  stateReason: string | null;
  readyAt: Date | null;
  destroyedAt: Date | null;
  macAddress: string | null;
  ipAddress: string | null;
  sshHostKeys: SshHostKey[];
  /** Meaningful only while READY: what the host's last health verdict was, since when, and why. */
  health: MachineHealth;
  healthSince: Date | null;
  healthReason: string | null;
}

/** Health starts afresh: a new state, or a new proof of the host key. */
const healthyFrom = (at: Date) => ({ health: "HEALTHY" as const, healthSince: at, healthReason: null });

/**
 * What an event changes on its machine, given the state it is in. A state change the
 * transition table does not allow changes nothing (the event is still stored: it is what the
 * agent said): so a destroyed machine stays destroyed, whatever a late report says.
 */
export function changesOf(state: MachineState, event: MachineEvent, at: Date): Partial<MachineFacts> {
  if (state === "DESTROYED") return {};
  switch (event.kind) {
    case "MachineStateChanged": {
      const next = event.payload.state;
      if (next !== state && !canTransition(state, next)) return {};
      return {
        state: next,
        stateReason: event.payload.reason ?? null,
        ...healthyFrom(at),
        ...(next === "READY" ? { readyAt: at } : {}),
        ...(next === "DESTROYED" ? { destroyedAt: at } : {}),
      };
    }
    case "DhcpLeaseAcquired":
      // The address becomes the machine's only once ssh there proves it (SshReady): a guest can print anything.
      return { macAddress: event.payload.mac };
    case "SshReady":
      // A re-adopting agent proves the key again: whatever an earlier agent said of its health is over.
      return { ipAddress: event.payload.ip, sshHostKeys: event.payload.hostKeys, ...healthyFrom(at) };
    case "MachineUnresponsive":
      if (state !== "READY") return {};
      return { health: "UNRESPONSIVE", healthSince: new Date(event.payload.since), healthReason: event.payload.reason };
    case "MachineResponsive":
      return state === "READY" ? healthyFrom(at) : {};
    default:
      return {};
  }
}
