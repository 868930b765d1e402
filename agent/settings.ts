import { HEALTH_CHECKS, HostConfigError } from "../core/index.js";

/** A duration setting in seconds, as ms: unset, the default; anything not a number ≥ min is refused at start. */
function secondsFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  defaultSeconds: number,
  rule: { min: number; say: string },
): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return defaultSeconds * 1000;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= rule.min) return seconds * 1000;
  throw new HostConfigError([`${name}=${raw} is not ${rule.say}: set it to one or unset it for ${defaultSeconds}`]);
}

/** GAOL_HEALTH_INTERVAL_SECONDS in ms: unset, the default; 0 probes nothing. */
export function healthIntervalMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return secondsFromEnv(env, "GAOL_HEALTH_INTERVAL_SECONDS", HEALTH_CHECKS.intervalSeconds, {
    min: 0,
    say: "a number of seconds (0 turns health probes off)",
  });
}

/** The default wait from a kernel's start to its proven sshd before the machine is FAILED. */
export const BOOT_TIMEOUT_SECONDS = 120;

/** GAOL_BOOT_TIMEOUT_SECONDS in ms: how long a boot may take before its machine is FAILED. */
export function bootTimeoutMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return secondsFromEnv(env, "GAOL_BOOT_TIMEOUT_SECONDS", BOOT_TIMEOUT_SECONDS, {
    min: 1,
    say: "a number of seconds of at least 1",
  });
}
