import { describe, expect, it } from "vitest";
import { ActivityWatch } from "../../agent/activity.js";
import { activityIn, type MachineUsage, PROBE_COST, probesWithin } from "../../core/index.js";

describe("activityIn", () => {
  it("counts traffic or CPU past what the host's own probes cost, traffic first", () => {
    const probes = probesWithin(30_000, 30_000);
    expect(probes).toBe(2);
    // Two probes' worth (measured: ~2.6 KB and ~60 ms each) is nobody's use.
    expect(activityIn({ cpuSeconds: 0.12, bytes: 5300 }, probes)).toBeUndefined();
    expect(activityIn({ cpuSeconds: 0, bytes: 2 * PROBE_COST.bytes + 4096 }, probes)).toBe("NETWORK");
    expect(activityIn({ cpuSeconds: 2, bytes: 0 }, probes)).toBe("CPU");
    expect(activityIn({ cpuSeconds: 2, bytes: 50_000 }, probes)).toBe("NETWORK");
    expect(activityIn({ cpuSeconds: 0.25, bytes: 0 }, 0)).toBe("CPU");
    expect(probesWithin(30_000, 0)).toBe(0);
  });
});

describe("ActivityWatch", () => {
  it("takes a machine's first sample as its baseline, then reports the machines used since", async () => {
    const usage = new Map<string, MachineUsage>([
      ["busy", { cpuSeconds: 10, bytes: 1_000_000 }],
      ["quiet", { cpuSeconds: 10, bytes: 1_000_000 }],
    ]);
    const reported: string[][] = [];
    let ready = ["busy", "quiet"];
    const watch = new ActivityWatch({
      usage: async (id) => usage.get(id),
      ready: () => ready,
      report: async (seen) => {
        reported.push(seen.map((a) => `${a.id}:${a.kind}`));
      },
      intervalMs: 30_000,
      probeIntervalMs: 30_000,
    });
    expect(await watch.sample()).toEqual([]);
    usage.set("busy", { cpuSeconds: 14, bytes: 1_000_100 });
    usage.set("quiet", { cpuSeconds: 10.1, bytes: 1_005_000 });
    await watch.sample();
    expect(reported).toEqual([["busy:CPU"]]);
    // A machine that left READY and came back starts from a new baseline: its boot is not use.
    ready = ["busy"];
    await watch.sample();
    ready = ["busy", "quiet"];
    usage.set("quiet", { cpuSeconds: 30, bytes: 9_000_000 });
    await watch.sample();
    expect(reported).toEqual([["busy:CPU"]]);
  });
});
