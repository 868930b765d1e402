import { randomBytes } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { rateLimitFromEnv } from "../../api/rate-limit.js";
import { parseDuration } from "../../clients/cli/duration.js";
import {
  crc32,
  HostConfigError,
  inWords,
  newToken,
  RateLimitedError,
  RateLimiter,
  shownPrefix,
  tokenShape,
} from "../../core/index.js";

describe("token format", () => {
  it("makes gaol_ tokens of 30 random base62 characters and their CRC32, all different", () => {
    const tokens = Array.from({ length: 200 }, () => newToken());
    for (const token of tokens) {
      expect(token).toMatch(/^gaol_[0-9A-Za-z]{36}$/);
      expect(tokenShape(token)).toBe("checksummed");
    }
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(shownPrefix(tokens[0] as string)).toBe((tokens[0] as string).slice(0, 10));
  });

  it("computes zlib's CRC32", () => {
    for (const text of ["", "a", "gaol", newToken()]) expect(crc32(text)).toBe(zlibCrc32(text));
  });

  it("refuses a token with any one character changed, and anything of neither shape", () => {
    const token = newToken();
    for (let i = 5; i < token.length; i++) {
      const other = token[i] === "a" ? "b" : "a";
      expect(tokenShape(token.slice(0, i) + other + token.slice(i + 1))).toBeUndefined();
    }
    for (const junk of ["", "gaol_", "ghp_abc", `gaol_${"x".repeat(36)}`, `${token}x`]) {
      expect(tokenShape(junk)).toBeUndefined();
    }
  });

  it("still accepts the shape of tokens made before checksums", () => {
    expect(tokenShape(`gaol_${randomBytes(32).toString("base64url")}`)).toBe("legacy");
  });
});

describe("the mutation rate limiter", () => {
  it("grants a burst, then one per refill, per key, and says how long to wait", () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 3, perSecond: 0.5 }, () => now);
    expect([1, 2, 3].map(() => limiter.take("a"))).toEqual([0, 0, 0]);
    expect(limiter.take("a")).toBe(2);
    expect(limiter.take("b")).toBe(0);
    now = 1000;
    expect(limiter.take("a")).toBe(1);
    now = 2000;
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(2);
    now = 60_000;
    expect([1, 2, 3, 4].map(() => limiter.take("a"))).toEqual([0, 0, 0, 2]);
  });

  it("does nothing with a burst of 0", () => {
    const limiter = new RateLimiter({ burst: 0, perSecond: 0 });
    expect(Array.from({ length: 100 }, () => limiter.take("a")).every((wait) => wait === 0)).toBe(true);
  });

  it("reads its settings from the environment, and says what is wrong with them", () => {
    expect(rateLimitFromEnv({})).toEqual({ burst: 30, perSecond: 1 });
    expect(rateLimitFromEnv({ GAOL_RATE_LIMIT_BURST: "5", GAOL_RATE_LIMIT_PER_SECOND: "0.5" })).toEqual({
      burst: 5,
      perSecond: 0.5,
    });
    expect(rateLimitFromEnv({ GAOL_RATE_LIMIT_BURST: "0", GAOL_RATE_LIMIT_PER_SECOND: "0" }).burst).toBe(0);
    expect(() => rateLimitFromEnv({ GAOL_RATE_LIMIT_BURST: "lots" })).toThrow(/GAOL_RATE_LIMIT_BURST must be a number/);
    expect(() => rateLimitFromEnv({ GAOL_RATE_LIMIT_PER_SECOND: "0" })).toThrow(/GAOL_RATE_LIMIT_BURST=0 turns/);
    expect(() => rateLimitFromEnv({ GAOL_RATE_LIMIT_BURST: "-1" })).toThrow(HostConfigError);
  });

  it("says when to retry in words", () => {
    expect(new RateLimitedError(1).message).toMatch(/try again in 1 second$/);
    expect(new RateLimitedError(30).message).toMatch(/try again in 30 seconds$/);
    expect(inWords(600)).toBe("10 minutes");
  });
});

describe("gaol token create --expires", () => {
  it("reads durations as people write them", () => {
    expect(["90", "90s", "30m", "12h", "7d", "2w"].map(parseDuration)).toEqual([
      90, 90, 1800, 43_200, 604_800, 1_209_600,
    ]);
    for (const bad of ["", "0", "7 days", "-1d", "1.5h"]) expect(() => parseDuration(bad)).toThrow(/duration/);
  });
});
