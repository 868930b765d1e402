/** The image a machine gets when its request names none. */
export const DEFAULT_IMAGE = "debian";
/** The image with a desktop (XFCE over VNC) that `gaol setup --desktop` builds. */
export const DESKTOP_IMAGE = "desktop";

/** A machine's memory in MiB: what may be asked for, and what is given when nothing is. */
export const MEMORY_MIB = { min: 64, max: 16_384, default: 256 } as const;

/** A new user's quotas. */
export const DEFAULT_QUOTA = { maxMachines: 5, maxMemoryMiB: 4096 } as const;

/**
 * A host whose agent has not been heard from for this long is down: no new machines, and its
 * machines LOST until it is back (GAOL_HOST_DOWN_SECONDS). Agents beat every HEARTBEAT_SECONDS.
 */
export const HOST_DOWN_SECONDS = 15;

/**
 * Below this much free on its GAOL_ROOT, a host takes no new machine: a reflink takes no room when
 * it is made, but a booting guest writes logs, keys and apt's lists at once.
 */
export const ROOT_MIN_FREE_MIB = 512;
export const HEARTBEAT_SECONDS = 5;

/** PID 1 inside a machine: gaol's startenv (the benchmark's naive baseline is the only other). */
export const DEFAULT_INIT = "/uml/bin/startenv";

/**
 * The agent's health probes of its READY machines: one every `intervalSeconds` (± `jitter` of
 * it) per machine, at most `concurrency` at once per host; `failures` failed in a row make the
 * machine UNRESPONSIVE.
 */
export const HEALTH_CHECKS = { intervalSeconds: 30, jitter: 0.1, failures: 3, concurrency: 4 } as const;
