/** Every state a machine can be in, in the order a boot goes through them. */
export const MACHINE_STATES = [
  "PENDING",
  "PROVISIONING",
  "BOOTING",
  "RUNNING",
  "READY",
  "STOPPING",
  "DESTROYED",
  "FAILED",
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

/** What the owner asked for; the agent converges the state towards it. */
export const DESIRED_STATES = ["RUNNING", "DESTROYED"] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

/**
 * Which state may follow which. The api and the agent record transitions as events; a report
 * that breaks this table is a bug or a lying agent, and the table is what tests check against.
 */
export const TRANSITIONS: Readonly<Record<MachineState, readonly MachineState[]>> = {
  PENDING: ["PROVISIONING", "STOPPING", "DESTROYED", "FAILED"],
  PROVISIONING: ["BOOTING", "STOPPING", "DESTROYED", "FAILED"],
  BOOTING: ["RUNNING", "READY", "STOPPING", "DESTROYED", "FAILED"],
  RUNNING: ["READY", "STOPPING", "DESTROYED", "FAILED"],
  // A reboot goes READY → STOPPING → BOOTING; a kernel that dies is FAILED.
  READY: ["STOPPING", "DESTROYED", "FAILED", "BOOTING"],
  STOPPING: ["BOOTING", "DESTROYED", "FAILED"],
  // FAILED is final for the machine's kernel, but the row is still destroyed when asked.
  FAILED: ["STOPPING", "DESTROYED"],
  DESTROYED: [],
};

export function canTransition(from: MachineState, to: MachineState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Every state reachable from each state through the table, itself included. */
const REACHABLE = new Map(MACHINE_STATES.map((state) => [state, reachableFrom(state)]));

function reachableFrom(state: MachineState): Set<MachineState> {
  const reached = new Set<MachineState>([state]);
  const pending = [state];
  for (let from = pending.pop(); from !== undefined; from = pending.pop()) {
    for (const to of TRANSITIONS[from]) {
      if (reached.has(to)) continue;
      reached.add(to);
      pending.push(to);
    }
  }
  return reached;
}

/** Whether a machine in `from` can ever be in `to` (a report of a state it cannot reach is stale). */
export function canReach(from: MachineState, to: MachineState): boolean {
  return REACHABLE.get(from)?.has(to) ?? false;
}

/** States in which a kernel should be running on the machine's host. */
export const RUNNING_STATES: readonly MachineState[] = ["PROVISIONING", "BOOTING", "RUNNING", "READY", "STOPPING"];

/**
 * The state a destroy request moves the machine to: one no host holds (PENDING) or whose kernel
 * is gone (FAILED) is destroyed at once; otherwise its agent tears it down (STOPPING).
 */
export function stateOnDestroy(state: MachineState): MachineState {
  return state === "PENDING" || state === "FAILED" ? "DESTROYED" : "STOPPING";
}

/** Only a machine whose kernel runs can be rebooted. */
export function canReboot(state: MachineState): boolean {
  return state === "READY" || state === "RUNNING";
}

/**
 * What the host's periodic probe says of a READY machine: only READY has a health. It is not a
 * state: the boot's proof still stands and nothing on the host changes, so reboot and destroy
 * work as for any READY machine.
 */
export const MACHINE_HEALTH = ["HEALTHY", "UNRESPONSIVE"] as const;
export type MachineHealth = (typeof MACHINE_HEALTH)[number];
