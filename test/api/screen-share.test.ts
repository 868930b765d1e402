import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { GaolClient } from "../../clients/sdk/client.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

// A student lets the course's staff type in their lab machine's screens, on real Postgres. Names unique to this file.
let api: TestApi;
let url: string;
const tokens: Record<string, string> = {};
const client = (who: string) => new GaolClient({ url, token: tokens[who], webSocket: WebSocket });
const SHARE = `mutation ($id: ID!, $shared: Boolean!) { shareMachineScreen(id: $id, shared: $shared) {
  __typename ... on ShareMachineScreenPayload { machine { screenShared } } ... on Error { message } } }`;
const access = async (who: string, id: string) =>
  (await api.ok(tokens[who] as string, `query ($id: ID!) { machine(id: $id) { screenAccess screenShared } }`, { id }))
    .machine;

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0 });
  url = await api.app.start(0);
  await api.login("share-host", "AGENT");
  tokens.admin = await api.login("share-admin", "ADMIN");
  tokens.prof = await api.login("share-prof");
  tokens.student = await api.login("share-student");
  tokens.other = await api.login("share-other");
  await client("admin").createCourse({ name: "share-101", instructors: ["share-prof"] });
  await client("prof").enrol("share-101", [{ user: "share-student" }, { user: "share-other" }]);
  await client("prof").createLab("share-101", { name: "shell", timeLimitSeconds: 3600 });
});
afterAll(() => api?.close());

describe("sharing a machine's screen with the course's staff", () => {
  it("lets staff type only while the owner shares, and only the owner decides", async () => {
    const { id } = await client("student").startLab("share-101", "shell");
    expect(await access("prof", id)).toEqual({ screenAccess: "VIEW", screenShared: false });

    // Neither the teacher nor an admin can share it for the student.
    for (const who of ["prof", "admin"]) {
      const { shareMachineScreen } = await api.ok(tokens[who] as string, SHARE, { id, shared: true });
      expect(shareMachineScreen.__typename).toBe("NotFoundError");
    }
    expect(await access("prof", id)).toEqual({ screenAccess: "VIEW", screenShared: false });

    expect((await client("student").shareScreen(id, true)).screenShared).toBe(true);
    expect(await access("prof", id)).toEqual({ screenAccess: "CONTROL", screenShared: true });
    expect((await access("student", id)).screenAccess).toBe("CONTROL");
    // A classmate and an admin still get no screen at all.
    const seen = await api.gql(tokens.other as string, `query ($id: ID!) { machine(id: $id) { id } }`, { id });
    expect(seen.data?.machine).toBeNull();
    expect((await access("admin", id)).screenAccess).toBe("NONE");

    expect((await client("student").shareScreen(id, false)).screenShared).toBe(false);
    expect(await access("prof", id)).toEqual({ screenAccess: "VIEW", screenShared: false });
    const audit = await api.ok(
      tokens.admin as string,
      `{ auditLog(first: 10, action: MACHINE_SCREEN_SHARE) { edges { node { userName result } } } }`,
    );
    expect(audit.auditLog.edges.map((e: { node: { userName: string; result: string } }) => e.node)).toEqual([
      { userName: "share-student", result: "ok" },
      { userName: "share-student", result: "ok" },
      { userName: "share-admin", result: "NotFoundError" },
      { userName: "share-prof", result: "NotFoundError" },
    ]);
  });
});
