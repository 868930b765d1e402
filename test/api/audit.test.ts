import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionMachine } from "../../services/machines.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

const AUDIT = `query ($first: Int, $after: String, $user: String, $action: AuditAction) {
  auditLog(first: $first, after: $after, user: $user, action: $action) {
    edges { cursor node { action result userName user { name } tokenId targetId targetName at } }
    pageInfo { hasNextPage endCursor }
  }
}`;

let api: TestApi;
let admin: string;
let ann: string;
let agent: string;

beforeAll(async () => {
  api = await startTestApi();
  agent = await api.login("aud-host", "AGENT");
  admin = await api.login("aud-admin", "ADMIN");
  ann = await api.login("aud-ann");
});
afterAll(() => api?.close());

async function entries(variables: object) {
  return (await api.ok(admin, AUDIT, variables)).auditLog.edges.map((e: { node: object }) => e.node);
}

const tokenIdOf = async (token: string) => (await api.ok(token, "{ viewer { tokens { id } } }")).viewer.tokens[0].id;

describe("the audit log", () => {
  it("records each machine provision, destroy and reboot with who, which token, what and the result", async () => {
    const provision =
      'mutation { provisionMachine(input: { name: "aud-1" }) { ... on ProvisionMachinePayload { machine { id } } } }';
    const id = (await api.ok(ann, provision)).provisionMachine.machine.id;
    await api.ok(ann, provision);
    await api.ok(ann, "mutation ($id: ID!) { rebootMachine(id: $id) { __typename } }", { id });
    await api.ok(ann, "mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }", { id });
    const tokenId = await tokenIdOf(ann);
    const who = { userName: "aud-ann", user: { name: "aud-ann" }, tokenId, targetName: "aud-1" };
    expect(await entries({ user: "aud-ann" })).toMatchObject([
      { ...who, action: "MACHINE_DESTROY", result: "ok", targetId: id },
      { ...who, action: "MACHINE_REBOOT", result: "InvalidStateError", targetId: id },
      { ...who, action: "MACHINE_PROVISION", result: "NameTakenError", targetId: null },
      { ...who, action: "MACHINE_PROVISION", result: "ok", targetId: id },
    ]);
  });

  it("records an attempt on someone else's machine as NotFoundError", async () => {
    const provision =
      'mutation { provisionMachine(input: { name: "aud-2" }) { ... on ProvisionMachinePayload { machine { id } } } }';
    const id = (await api.ok(ann, provision)).provisionMachine.machine.id;
    const mallory = await api.login("aud-mallory");
    expect(
      (await api.ok(mallory, "mutation ($id: ID!) { destroyMachine(id: $id) { __typename } }", { id })).destroyMachine,
    ).toEqual({ __typename: "NotFoundError" });
    expect(await entries({ user: "aud-mallory" })).toMatchObject([
      { action: "MACHINE_DESTROY", result: "NotFoundError", targetId: id, targetName: null },
    ]);
  });

  it("records token creation and revocation, and image syncs", async () => {
    const created = await api.ok(
      admin,
      'mutation { createToken(input: { user: "aud-new" }) { ... on CreateTokenPayload { details { id } } } }',
    );
    const id = created.createToken.details.id;
    await api.ok(admin, "mutation ($id: ID!) { revokeToken(id: $id) { __typename } }", { id });
    const sync = await api.ok(
      admin,
      'mutation { syncImage(input: { name: "aud-img", source: "/srv/aud" }) { ... on SyncImagePayload { sync { id } } } }',
    );
    await api.ok(admin, 'mutation { syncImage(input: { name: "aud-img", source: "../etc" }) { __typename } }');
    const tokenId = await tokenIdOf(admin);
    expect(await entries({ user: "aud-admin" })).toMatchObject([
      { action: "IMAGE_SYNC", result: "ValidationError", targetName: "aud-img", tokenId },
      { action: "IMAGE_SYNC", result: "ok", targetId: sync.syncImage.sync.id, targetName: "aud-img" },
      { action: "TOKEN_REVOKE", result: "ok", targetId: id, targetName: "aud-new" },
      { action: "TOKEN_CREATE", result: "ok", targetId: id, targetName: "aud-new" },
    ]);
  });

  it("writes the entry in the action's transaction: no entry, no change", async () => {
    const annUser = await api.database.db.query.users.findFirst({ where: (u, { eq }) => eq(u.name, "aud-ann") });
    // An actor the log cannot record (no name) fails the insert, and the provision with it.
    const broken = { userId: annUser?.id as string, userName: null as never };
    await expect(provisionMachine(api.database.db, broken, annUser as never, { name: "aud-atomic" })).rejects.toThrow();
    const { machines } = await api.ok(ann, "{ machines(first: 100) { edges { node { name } } } }");
    expect(machines.edges.map((e: { node: { name: string } }) => e.node.name)).not.toContain("aud-atomic");
  });

  it("pages newest first and filters by action", async () => {
    const first = await api.ok(admin, AUDIT, { first: 2 });
    expect(first.auditLog.pageInfo.hasNextPage).toBe(true);
    const next = await api.ok(admin, AUDIT, { first: 2, after: first.auditLog.pageInfo.endCursor });
    const at = (page: { auditLog: { edges: Array<{ cursor: string }> } }) =>
      page.auditLog.edges.map((e) => Number(e.cursor));
    expect([...at(first), ...at(next)]).toEqual([...at(first), ...at(next)].sort((a, b) => b - a));
    expect(new Set([...at(first), ...at(next)]).size).toBe(4);
    const revokes = await entries({ action: "TOKEN_REVOKE" });
    expect(revokes.length).toBeGreaterThan(0);
    expect(revokes.every((e: { action: string }) => e.action === "TOKEN_REVOKE")).toBe(true);
  });

  it("is for admins only", async () => {
    for (const token of [ann, agent, undefined]) {
      const { errors } = await api.gql(token as string, AUDIT, {});
      expect(errors?.[0]?.message).toMatch(/Not authorized/);
    }
  });
});
