import { DEFAULT_RATE_LIMIT, HostConfigError, type RateLimit } from "../core/index.js";

/**
 * Mutations per token from GAOL_RATE_LIMIT_BURST and GAOL_RATE_LIMIT_PER_SECOND (burst 0: no
 * limit). A bad value is a HostConfigError, so `gaol serve` says what to change in one line.
 */
export function rateLimitFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimit {
  const problems: string[] = [];
  const read = (name: string, fallback: number) => {
    const text = env[name];
    const value = text === undefined || text === "" ? fallback : Number(text);
    if (Number.isFinite(value) && value >= 0) return value;
    problems.push(`${name} must be a number, at least 0 (it is ${text})`);
    return fallback;
  };
  const limit = {
    burst: Math.floor(read("GAOL_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT.burst)),
    perSecond: read("GAOL_RATE_LIMIT_PER_SECOND", DEFAULT_RATE_LIMIT.perSecond),
  };
  if (problems.length === 0 && limit.burst > 0 && limit.perSecond <= 0) {
    problems.push("GAOL_RATE_LIMIT_PER_SECOND must be over 0 (GAOL_RATE_LIMIT_BURST=0 turns the limit off)");
  }
  if (problems.length > 0) throw new HostConfigError(problems);
  return limit;
}
