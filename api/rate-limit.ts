import { DEFAULT_RATE_LIMIT, type RateLimit } from "../core/index.js";

/** Mutations per token from GAOL_RATE_LIMIT_BURST and GAOL_RATE_LIMIT_PER_SECOND (burst 0: no limit). */
export function rateLimitFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimit {
  const read = (name: string, fallback: number) => {
    const text = env[name];
    const value = text === undefined || text === "" ? fallback : Number(text);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number, at least 0 (it is ${text})`);
    return value;
  };
  const limit = {
    burst: Math.floor(read("GAOL_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT.burst)),
    perSecond: read("GAOL_RATE_LIMIT_PER_SECOND", DEFAULT_RATE_LIMIT.perSecond),
  };
  if (limit.burst > 0 && limit.perSecond <= 0)
    throw new Error("GAOL_RATE_LIMIT_PER_SECOND must be over 0 (GAOL_RATE_LIMIT_BURST=0 turns the limit off)");
  return limit;
}
