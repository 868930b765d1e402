import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HeartbeatMutationVariables } from "../../agent/api/generated.js";
import { ConsoleOffsets } from "../../agent/console-offsets.js";
import { Heartbeat } from "../../agent/heartbeat.js";
import { ImageSyncs, type PendingSync, type SyncReport } from "../../agent/image-syncs.js";
import { FakeDriver } from "../helpers/fake-driver.js";
import { tempDir } from "../helpers/temp-dir.js";

const capacity = { memoryMiB: 4096, maxMachines: 4 };

function heartbeatOn(driver = new FakeDriver()) {
  const sent: HeartbeatMutationVariables[] = [];
  let failing = false;
  const heartbeat = new Heartbeat({
    send: async (beat) => {
      if (failing) throw new Error("api unreachable");
      sent.push(beat);
    },
    images: () => driver.imageVersions(),
    capacity,
  });
  return { driver, heartbeat, sent, fail: (on: boolean) => (failing = on) };
}

describe("the heartbeat", () => {
  it("sends the capacity every beat and the images only when they changed or the api may have lost them", async () => {
    const { driver, heartbeat, sent } = heartbeatOn();
    driver.images = [{ image: "debian", version: 1, sizeBytes: 10 }];
    expect(await heartbeat.beat()).toBe(true);
    await heartbeat.beat();
    driver.images = [...driver.images, { image: "debian", version: 2, sizeBytes: 20 }];
    await heartbeat.beat();
    heartbeat.forgetImages();
    await heartbeat.beat();
    expect(sent).toEqual([
      { ...capacity, images: [{ name: "debian", version: 1, sizeBytes: 10 }] },
      capacity,
      {
        ...capacity,
        images: [
          { name: "debian", version: 1, sizeBytes: 10 },
          { name: "debian", version: 2, sizeBytes: 20 },
        ],
      },
      {
        ...capacity,
        images: [
          { name: "debian", version: 1, sizeBytes: 10 },
          { name: "debian", version: 2, sizeBytes: 20 },
        ],
      },
    ]);
  });

  it("sends the images again after a beat that did not reach the api", async () => {
    const { heartbeat, sent, fail } = heartbeatOn();
    fail(true);
    expect(await heartbeat.beat()).toBe(false);
    fail(false);
    await heartbeat.beat();
    expect(sent).toEqual([{ ...capacity, images: [] }]);
  });

  it("says goodbye with no capacity, and a beat after stop sends nothing", async () => {
    const { heartbeat, sent } = heartbeatOn();
    heartbeat.stop();
    expect(await heartbeat.beat()).toBe(false);
    await heartbeat.goodbye();
    expect(sent).toEqual([{ memoryMiB: 0, maxMachines: 0 }]);
  });

  it("beats on its interval and runs what follows each beat", async () => {
    const { heartbeat, sent } = heartbeatOn();
    const after: boolean[] = [];
    heartbeat.every(5, async (took) => {
      after.push(took);
    });
    await new Promise((r) => setTimeout(r, 40));
    heartbeat.stop();
    await heartbeat.goodbye();
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.every((took) => took)).toBe(true);
    expect(sent.at(-1)).toEqual({ memoryMiB: 0, maxMachines: 0 });
    expect(sent.length).toBe(after.length + 1);
  });
});

describe("image syncs", () => {
  const sync: PendingSync = { id: "s1", image: "debian", source: "/srv/debian", version: 3 };

  function syncsOn(pending: PendingSync[], retryMs = 60_000) {
    const driver = new FakeDriver();
    const reports: Array<{ syncId: string } & SyncReport> = [];
    const syncs = new ImageSyncs({
      pending: async () => pending,
      report: async (syncId, report) => reports.push({ syncId, ...report }),
      driver,
      retryMs,
    });
    return { driver, syncs, reports };
  }

  it("builds the api's version and reports progress, then done", async () => {
    const { driver, syncs, reports } = syncsOn([sync]);
    await syncs.run();
    expect(driver.callsOf("syncImage")).toEqual([
      { op: "syncImage", image: "debian", source: "/srv/debian", version: 3 },
    ]);
    // The second transfer line came within a second of the first: not reported.
    expect(reports).toEqual([
      { syncId: "s1", phase: "transfer", bytes: 1, percent: 50 },
      { syncId: "s1", phase: "build" },
      { syncId: "s1", done: true, sizeBytes: 4096 },
    ]);
  });

  it("reports why a sync failed and does not try it again before the retry delay", async () => {
    const { driver, syncs, reports } = syncsOn([sync]);
    driver.failNext("syncImage", new Error("rsync: connection refused"));
    await syncs.run();
    await syncs.run();
    expect(driver.callsOf("syncImage")).toHaveLength(1);
    expect(reports).toEqual([{ syncId: "s1", error: "rsync: connection refused" }]);
  });

  it("tries a failed sync again once the retry delay is over", async () => {
    const { driver, syncs, reports } = syncsOn([sync], 0);
    driver.failNext("syncImage", new Error("rsync: connection refused"));
    await syncs.run();
    await new Promise((r) => setTimeout(r, 2));
    await syncs.run();
    expect(driver.callsOf("syncImage")).toHaveLength(2);
    expect(reports.at(-1)).toEqual({ syncId: "s1", done: true, sizeBytes: 4096 });
  });

  it("runs one pass at a time and none after stop", async () => {
    const { driver, syncs } = syncsOn([sync]);
    const release = driver.hold("syncImage");
    const first = syncs.run();
    await syncs.run();
    release();
    await first;
    expect(driver.callsOf("syncImage")).toHaveLength(1);
    syncs.stop();
    await syncs.run();
    expect(driver.callsOf("syncImage")).toHaveLength(1);
  });
});

describe("console offsets", () => {
  it("saves how far each supervised machine's console was read, for the next agent's adopt", async () => {
    const file = join(await tempDir("gaol-offsets"), "console-offsets.json");
    const driver = new FakeDriver();
    driver.place("watched", { supervised: true });
    driver.place("unwatched");
    const watched = driver.disk.get("watched");
    if (watched) watched.consoleBytes = 5120;
    const offsets = new ConsoleOffsets(file);
    expect(offsets.saved("watched")).toBeUndefined();
    await offsets.save(driver);
    const next = new ConsoleOffsets(file);
    expect(next.saved("watched")).toBe(5120);
    expect(next.saved("unwatched")).toBeUndefined();
  });
});
