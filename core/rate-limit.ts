/** How many mutations a token may make at once, and how fast that allowance refills. */
export interface RateLimit {
  /** Mutations at once; 0 turns the limit off. */
  burst: number;
  perSecond: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 30, perSecond: 1 };

/** Past this many buckets, the full ones are dropped: a full bucket and no bucket are the same. */
const SWEEP_AT = 1024;

/**
 * A token bucket per key. In memory, so with several api replicas each keeps its own
 * buckets and the limit holds per replica.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spends one of key's allowance: 0 when granted, otherwise the whole seconds until one is there. */
  take(key: string): number {
    const { burst, perSecond } = this.limit;
    if (burst <= 0) return 0;
    const now = this.now();
    const bucket = this.buckets.get(key);
    if (!bucket && this.buckets.size >= SWEEP_AT) this.sweep(now);
    const tokens = bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond) : burst;
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: now });
      return Math.max(1, Math.ceil((1 - tokens) / perSecond));
    }
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    return 0;
  }

  private sweep(now: number): void {
    const { burst, perSecond } = this.limit;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.buckets.delete(key);
    }
  }
}
