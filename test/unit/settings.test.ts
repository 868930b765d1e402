import { describe, expect, it } from "vitest";
import { bootTimeoutMsFromEnv, healthIntervalMsFromEnv } from "../../agent/settings.js";
import { HostConfigError } from "../../core/index.js";

describe("GAOL_HEALTH_INTERVAL_SECONDS", () => {
  it("defaults to 30 s, takes seconds, and refuses what is not a number with what to do", () => {
    expect(healthIntervalMsFromEnv({})).toBe(30_000);
    expect(healthIntervalMsFromEnv({ GAOL_HEALTH_INTERVAL_SECONDS: "2.5" })).toBe(2500);
    expect(healthIntervalMsFromEnv({ GAOL_HEALTH_INTERVAL_SECONDS: "0" })).toBe(0);
    for (const bad of ["30s", "-1", "never"]) {
      expect(() => healthIntervalMsFromEnv({ GAOL_HEALTH_INTERVAL_SECONDS: bad })).toThrow(HostConfigError);
    }
    expect(() => healthIntervalMsFromEnv({ GAOL_HEALTH_INTERVAL_SECONDS: "30s" })).toThrow(
      "GAOL_HEALTH_INTERVAL_SECONDS=30s is not a number of seconds (0 turns health probes off): set it to one or unset it for 30",
    );
  });
});

describe("GAOL_BOOT_TIMEOUT_SECONDS", () => {
  it("defaults to 120 s, takes seconds, and refuses 0 or what is not a number", () => {
    expect(bootTimeoutMsFromEnv({})).toBe(120_000);
    expect(bootTimeoutMsFromEnv({ GAOL_BOOT_TIMEOUT_SECONDS: "45" })).toBe(45_000);
    for (const bad of ["0", "2m", "-5"]) {
      expect(() => bootTimeoutMsFromEnv({ GAOL_BOOT_TIMEOUT_SECONDS: bad })).toThrow(HostConfigError);
    }
    expect(() => bootTimeoutMsFromEnv({ GAOL_BOOT_TIMEOUT_SECONDS: "2m" })).toThrow(
      "GAOL_BOOT_TIMEOUT_SECONDS=2m is not a number of seconds of at least 1: set it to one or unset it for 120",
    );
  });
});
