import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";

const SYNC = `mutation ($input: SyncImageInput!) {
  syncImage(input: $input) {
    __typename
    ... on SyncImagePayload { image { name source syncIntervalSeconds } sync { id version state } }
    ... on ValidationError { fields { field message } }
  }
}`;
const IMAGES = `{ images { name defaultVersion source versions { version source machineCount hostCount } } }`;
const PENDING = `{ pendingImageSyncs { id image source version } }`;
const REPORT = `mutation ($r: ImageSyncReport!) { reportImageSync(report: $r) }`;
const EVENTS = `subscription ($name: String!) {
  imageEvents(name: $name) {
    __typename cursor version
    ... on ImageSyncRequested { source }
    ... on ImageSyncProgress { host phase percent bytes files }
    ... on ImageVersionBuilt { host sizeBytes }
    ... on ImageSyncFailed { reason }
  }
}`;

let api: TestApi;
let admin: string;
let agent: string;
let ann: string;
let url: string;

async function image(name: string) {
  return (await api.ok(ann, IMAGES)).images.find((i: { name: string }) => i.name === name);
}

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.start(0);
  admin = await api.login("img-admin", "ADMIN");
  agent = await api.login("img-host", "AGENT");
  ann = await api.login("img-ann");
});
afterAll(() => api?.close());

describe("image sync through the api", () => {
  it("is for admins, and refuses names and sources that could escape GAOL_ROOT with the offending fields", async () => {
    const { errors } = await api.gql(ann, SYNC, { input: { name: "arch", source: "/srv/arch" } });
    expect(errors?.[0]?.message).toMatch(/Not authorized/);
    const bad = await api.ok(admin, SYNC, { input: { name: "../etc", source: "-e", intervalSeconds: 5 } });
    expect(bad.syncImage.__typename).toBe("ValidationError");
    expect(bad.syncImage.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      "intervalSeconds",
      "name",
      "source",
    ]);
    for (const source of ["/srv/../etc", "host:../x", "rsync://m/a/../../b", "relative"]) {
      const r = await api.ok(admin, SYNC, { input: { name: "arch", source } });
      expect(r.syncImage.__typename, source).toBe("ValidationError");
    }
    expect(await image("arch")).toBeUndefined();
  });

  it("asks every host for a numbered version, streams progress, and makes the built version the default", async () => {
    const requested = await api.ok(admin, SYNC, { input: { name: "arch", source: "/srv/arch" } });
    expect(requested.syncImage).toMatchObject({
      image: { name: "arch", source: "/srv/arch" },
      sync: { version: 1, state: "PENDING" },
    });
    const events = take<{ imageEvents: Record<string, unknown> }>(wsClient(url, ann), EVENTS, { name: "arch" }, 4);
    const [pending] = (await api.ok(agent, PENDING)).pendingImageSyncs;
    expect(pending).toMatchObject({ image: "arch", source: "/srv/arch", version: 1 });
    await api.ok(agent, REPORT, { r: { syncId: pending.id, phase: "transfer", bytes: 1024, percent: 50, files: 3 } });
    await api.ok(agent, REPORT, { r: { syncId: pending.id, phase: "build" } });
    await api.ok(agent, REPORT, { r: { syncId: pending.id, done: true, sizeBytes: 2 ** 31 } });
    const seen = (await events).map((e) => e.imageEvents);
    expect(seen.map((e) => e.__typename)).toEqual([
      "ImageSyncRequested",
      "ImageSyncProgress",
      "ImageSyncProgress",
      "ImageVersionBuilt",
    ]);
    expect(seen[1]).toMatchObject({ host: "img-host", phase: "transfer", percent: 50, bytes: 1024, files: 3 });
    expect(seen[3]).toMatchObject({ version: 1, sizeBytes: 2 ** 31 });
    expect(await image("arch")).toMatchObject({
      defaultVersion: 1,
      versions: [{ version: 1, source: "/srv/arch", machineCount: 0, hostCount: 1 }],
    });
    expect((await api.ok(agent, PENDING)).pendingImageSyncs).toEqual([]);
    // A host that joins later is asked for the newest version too.
    const later = await api.login("img-host-2", "AGENT", { hostMemoryMiB: 0 });
    expect((await api.ok(later, PENDING)).pendingImageSyncs).toMatchObject([{ image: "arch", version: 1 }]);
  });

  it("places machines on a version; an old version goes once its last machine is destroyed, never the newest", async () => {
    const provision = `mutation ($input: ProvisionMachineInput!) { provisionMachine(input: $input) {
      __typename ... on ProvisionMachinePayload { machine { id imageVersion } } ... on Error { message } } }`;
    const old = (await api.ok(ann, provision, { input: { name: "on-one", image: "arch" } })).provisionMachine.machine;
    expect(old.imageVersion).toBe(1);
    const missing = await api.ok(ann, provision, { input: { name: "on-nine", image: "arch", imageVersion: 9 } });
    expect(missing.provisionMachine).toMatchObject({
      __typename: "ImageNotFoundError",
      message: expect.stringMatching(/arch@9/),
    });

    const second = (await api.ok(admin, SYNC, { input: { name: "arch", source: "/srv/arch" } })).syncImage.sync;
    expect(second.version).toBe(2);
    await api.ok(agent, REPORT, { r: { syncId: second.id, done: true, sizeBytes: 1 } });
    expect((await image("arch")).versions).toEqual([
      { version: 1, source: "/srv/arch", machineCount: 1, hostCount: 1 },
      { version: 2, source: "/srv/arch", machineCount: 0, hostCount: 1 },
    ]);
    const fresh = (await api.ok(ann, provision, { input: { name: "on-two", image: "arch" } })).provisionMachine.machine;
    expect(fresh.imageVersion).toBe(2);

    const destroyed = { kind: "MachineStateChanged", payload: { state: "DESTROYED" } };
    await api.ok(agent, `mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }`, {
      e: [{ machineId: old.id, agentSeq: 1, ...destroyed }],
    });
    expect((await image("arch")).versions.map((v: { version: number }) => v.version)).toEqual([2]);
    await api.ok(agent, `mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }`, {
      e: [{ machineId: fresh.id, agentSeq: 1, ...destroyed }],
    });
    expect((await image("arch")).versions.map((v: { version: number }) => v.version)).toEqual([2]);
  });

  it("keeps the default when a host reports a failed sync, and says why", async () => {
    const failing = (await api.ok(admin, SYNC, { input: { name: "arch", source: "/nonexistent" } })).syncImage.sync;
    await api.ok(agent, REPORT, {
      r: { syncId: failing.id, error: "source /nonexistent is not a directory on this host" },
    });
    const events = await take<{ imageEvents: Record<string, unknown> }>(
      wsClient(url, ann),
      EVENTS,
      { name: "arch" },
      9,
    );
    expect(events.at(-1)?.imageEvents).toMatchObject({
      __typename: "ImageSyncFailed",
      version: 3,
      reason: expect.stringMatching(/not a directory/),
    });
    expect((await image("arch")).defaultVersion).toBe(2);
  });

  it("records what a host holds from its heartbeat, and schedules syncs that are due", async () => {
    await api.ok(
      agent,
      `mutation { hostHeartbeat(memoryMiB: 4096, maxMachines: 4, images: [{ name: "debian", version: 7, sizeBytes: 10 }]) { id } }`,
    );
    expect(await image("debian")).toMatchObject({ defaultVersion: 7, versions: [{ version: 7, hostCount: 1 }] });
    await api.ok(admin, SYNC, { input: { name: "nightly", source: "mirror.lan:/srv/nightly", intervalSeconds: 3600 } });
    const first = (await api.ok(agent, PENDING)).pendingImageSyncs.filter(
      (s: { image: string }) => s.image === "nightly",
    );
    await api.ok(agent, REPORT, { r: { syncId: first[0].id, done: true } });
    await api.ok(agent, "mutation { hostHeartbeat(memoryMiB: 4096, maxMachines: 4) { id } }");
    expect(
      (await api.ok(agent, PENDING)).pendingImageSyncs.filter((s: { image: string }) => s.image === "nightly"),
    ).toEqual([]);
    // An hour later (as far as the database knows), the next heartbeat asks for the next version.
    await api.database.db.execute(
      "update images set last_synced_at = now() - interval '2 hours' where name = 'nightly'" as never,
    );
    await api.ok(agent, "mutation { hostHeartbeat(memoryMiB: 4096, maxMachines: 4) { id } }");
    const due = (await api.ok(agent, PENDING)).pendingImageSyncs.filter(
      (s: { image: string }) => s.image === "nightly",
    );
    expect(due).toMatchObject([{ version: 2, source: "mirror.lan:/srv/nightly" }]);
  });
});
