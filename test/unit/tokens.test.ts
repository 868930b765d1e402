import { randomBytes } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../clients/cli/duration.js";
import { crc32, newToken, shownPrefix, tokenShape } from "../../core/index.js";

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

describe("gaol token create --expires", () => {
  it("reads durations as people write them", () => {
    expect(["90", "90s", "30m", "12h", "7d", "2w"].map(parseDuration)).toEqual([
      90, 90, 1800, 43_200, 604_800, 1_209_600,
    ]);
    for (const bad of ["", "0", "7 days", "-1d", "1.5h"]) expect(() => parseDuration(bad)).toThrow(/duration/);
  });
});
