import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostCommandError } from "../../host/exec/error.js";
import { run } from "../../host/exec/run.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
const CORDON = `mutation ($name: String!, $cordoned: Boolean) { cordonHost(name: $name, cordoned: $cordoned) {
  __typename ... on CordonHostPayload { host { name cordonedAt machineCount } } ... on Error { message } } }`;
const PROVISION = `mutation ($name: String!) { provisionMachine(input: { name: $name }) {
  __typename ... on ProvisionMachinePayload { machine { id host { name } } } ... on Error { message } } }`;

let api: TestApi;
let url: string;
let admin: string;
let user: string;

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0 });
  url = await api.app.start(0);
  await api.login("cordon-a", "AGENT", { hostMemoryMiB: 65_536 });
  await api.login("cordon-b", "AGENT", { hostMemoryMiB: 8192 });
  admin = await api.login("cordon-admin", "ADMIN");
  user = await api.login("cordon-user");
});
afterAll(() => api?.close());

const placedOn = async (name: string) => (await api.ok(user, PROVISION, { name })).provisionMachine.machine.host.name;

describe("cordoning a host", () => {
  it("places no new machine there, keeps its machines, and opens again on uncordon", async () => {
    expect(await placedOn("before")).toBe("cordon-a");
    const { cordonHost } = await api.ok(admin, CORDON, { name: "cordon-a" });
    expect(cordonHost).toMatchObject({ host: { name: "cordon-a", machineCount: 1 } });
    expect(cordonHost.host.cordonedAt).not.toBeNull();
    expect(await placedOn("during")).toBe("cordon-b");
    await api.ok(admin, CORDON, { name: "cordon-a", cordoned: false });
    expect(await placedOn("after")).toBe("cordon-a");

    const audit = await api.ok(
      admin,
      `{ auditLog(first: 10, action: HOST_CORDON) { edges { node { targetName result } } } }`,
    );
    expect(audit.auditLog.edges).toHaveLength(2);
  });

  it("is an admin's, and says when there is no such host", async () => {
    const { errors } = await api.gql(user, CORDON, { name: "cordon-a" });
    expect(errors?.[0]?.message).toMatch(/Not authorized/);
    expect((await api.ok(admin, CORDON, { name: "no-such-host" })).cordonHost).toMatchObject({
      __typename: "NotFoundError",
    });
  });

  it("places nothing on a host whose heartbeat says its GAOL_ROOT is nearly full, until there is room", async () => {
    const agent = await api.login("cordon-a", "AGENT", { hostMemoryMiB: 65_536 });
    const someone = await api.login("disk-user");
    const beat = `mutation ($free: Int) { hostHeartbeat(memoryMiB: 65536, maxMachines: 100, rootFreeMiB: $free) {
      name rootFreeMiB } }`;
    const ids: string[] = [];
    const placed = async (name: string) => {
      const { machine } = (await api.ok(someone, PROVISION, { name })).provisionMachine;
      ids.push(machine.id);
      return machine.host.name;
    };
    expect((await api.ok(agent, beat, { free: 100 })).hostHeartbeat).toEqual({ name: "cordon-a", rootFreeMiB: 100 });
    expect(await placed("disk-full")).toBe("cordon-b");
    await api.ok(agent, beat, { free: 20_000 });
    expect(await placed("disk-room")).toBe("cordon-a");
    for (const id of ids)
      await api.ok(someone, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id });
  });

  it("gaol hosts drain waits for a host's machines, and says how many stay", async () => {
    const gaol = (args: string[]) =>
      run(gaolBin, args, { env: { GAOL_API: url, GAOL_TOKEN: admin, HOME: "/nonexistent" } });
    const busy = await gaol(["hosts", "drain", "cordon-a", "--wait", "3s"]).catch((e: HostCommandError) => e);
    expect(busy).toBeInstanceOf(HostCommandError);
    expect((busy as HostCommandError).message).toContain("cordon-a still has 2 machines; they keep running");
    const listed = (await gaol(["hosts"])).stdout;
    expect(listed).toMatch(/^cordon-a\s+up\s+2\/100\s+.*cordoned \d+ s ago$/m);
    // cordon-b's one machine goes while it drains.
    const { machines } = await api.ok(user, `{ machines(live: true) { edges { node { id host { name } } } } }`);
    const onB = machines.edges.find((e: { node: { host: { name: string } } }) => e.node.host.name === "cordon-b");
    const draining = gaol(["hosts", "drain", "cordon-b"]);
    await new Promise((r) => setTimeout(r, 1000));
    await api.ok(user, `mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }`, { id: onB.node.id });
    const drained = await draining;
    expect(drained.stderr).toContain("cordon-b: 1 machine left");
    expect(drained.stderr).toContain("cordon-b is drained: no machines, none placed");
  });
});
