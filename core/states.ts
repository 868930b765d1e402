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
  // Its host's agent has not been heard from: what runs there is not known until it is again.
  "LOST",
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
  PROVISIONING: ["BOOTING", "STOPPING", "DESTROYED", "FAILED", "LOST"],
  // Back to PROVISIONING: a boot half made when its agent died is made again from the start.
  BOOTING: ["PROVISIONING", "RUNNING", "READY", "STOPPING", "DESTROYED", "FAILED", "LOST"],
  RUNNING: ["PROVISIONING", "READY", "STOPPING", "DESTROYED", "FAILED", "LOST"],
  // A reboot goes READY → STOPPING → BOOTING; a kernel that dies is FAILED.
  READY: ["STOPPING", "DESTROYED", "FAILED", "BOOTING", "LOST"],
  STOPPING: ["BOOTING", "DESTROYED", "FAILED", "LOST"],
  // FAILED is final for the machine's kernel, but the row is still destroyed when asked.
  FAILED: ["STOPPING", "DESTROYED"],
  DESTROYED: [],
  // The host's agent, back, says what it found: the state the machine is really in.
  LOST: ["PROVISIONING", "BOOTING", "RUNNING", "READY", "STOPPING", "DESTROYED", "FAILED"],
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
    // LOST is the api's word, not a life the kernel goes through: no path goes on through it.
    if (from === "LOST" && from !== state) continue;
    for (const to of TRANSITIONS[from]) {
      // Nor through a boot made again: PROVISIONING is reached that way only from the state itself.
      if (to === "PROVISIONING" && from !== "PENDING" && from !== "LOST" && from !== state) continue;
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

/** A machine whose kernel may still run on a host that has gone silent: it is LOST until the host is back. */
export const canBeLost = (state: MachineState): boolean => TRANSITIONS[state].includes("LOST");

/**
 * The state a destroy request moves the machine to: one no host holds (PENDING), whose kernel
 * is gone (FAILED) or whose host is gone silent (LOST: if it comes back, its agent removes the
 * kernel as an orphan) is destroyed at once; otherwise its agent tears it down (STOPPING).
 */
export function stateOnDestroy(state: MachineState): MachineState {
  return state === "PENDING" || state === "FAILED" || state === "LOST" ? "DESTROYED" : "STOPPING";
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
