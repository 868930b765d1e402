import { afterEach, describe, expect, it, vi } from "vitest";
import { stateLabel } from "../../clients/cli/output.js";
import { describeEvent, Progress } from "../../clients/cli/progress.js";

function stream(isTTY: boolean) {
  const written: string[] = [];
  return { written, out: { isTTY, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream };
}

afterEach(() => vi.useRealTimers());

describe("gaol up's progress", () => {
  it("prints plain gaol: lines when piped", () => {
    const { written, out } = stream(false);
    const progress = new Progress("lab-1", out);
    progress.step("BOOTING");
    progress.done("ready in 0.9 s — gaol ssh lab-1");
    expect(written.join("")).toBe("gaol: lab-1\ngaol: BOOTING\ngaol: ready in 0.9 s — gaol ssh lab-1\n");
  });

  it("ticks off steps under a live spinner line on a terminal", () => {
    vi.useFakeTimers();
    const { written, out } = stream(true);
    const progress = new Progress("lab-1", out);
    vi.advanceTimersByTime(250);
    progress.step("  lease 10.0.0.7");
    vi.advanceTimersByTime(100);
    progress.done("ready");
    const text = written.join("");
    expect(text).toMatch(/⠋ lab-1: waiting for the api/);
    expect(text).toContain("✓\u001b[0m lease 10.0.0.7");
    expect(text).toMatch(/lab-1: lease 10\.0\.0\.7/);
    // Nothing is redrawn after the end.
    const length = written.length;
    vi.advanceTimersByTime(500);
    expect(written.length).toBe(length);
  });

  it("describes the events worth showing", () => {
    const at = "2026-01-01T00:00:00Z";
    expect(
      describeEvent({ __typename: "BootStageReached", cursor: "1", at, stage: "sshd", uptimeSeconds: 0.512 }),
    ).toBe("  sshd at 0.51 s");
    expect(describeEvent({ __typename: "ConsoleOutput", cursor: "2", at, text: "x" })).toBeUndefined();
    expect(
      describeEvent({
        __typename: "MachineStateChanged",
        cursor: "3",
        at,
        state: "FAILED",
        reason: "no",
        lastConsoleLines: [],
      }),
    ).toBe("FAILED (no)");
    expect(
      describeEvent({
        __typename: "MachineUnresponsive",
        cursor: "4",
        at,
        probeFailure: "ssh at 10.0.0.7:22: no answer within 3 s",
        failures: 3,
        since: at,
      }),
    ).toBe("unresponsive: ssh at 10.0.0.7:22: no answer within 3 s (3 probes failed in a row; a reboot usually helps)");
    expect(describeEvent({ __typename: "MachineResponsive", cursor: "5", at, unresponsiveSeconds: 61.6 })).toBe(
      "responsive again after 62 s",
    );
  });

  it("shows an unresponsive READY machine as such in gaol ls", () => {
    expect(stateLabel({ state: "READY", health: { status: "UNRESPONSIVE" } })).toBe("READY (unresponsive)");
    expect(stateLabel({ state: "READY", health: { status: "HEALTHY" } })).toBe("READY");
    expect(stateLabel({ state: "BOOTING", health: null })).toBe("BOOTING");
  });
});
