import { createHash, randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newToken, tokenShape } from "../../core/index.js";
import { apiTokens, users } from "../../db/schema.js";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";

const CREATE = `mutation ($input: CreateTokenInput!) {
  createToken(input: $input) {
    __typename
    ... on CreateTokenPayload { token details { id prefix user { name } role expiresAt lastUsedAt revokedAt active } }
    ... on ValidationError { fields { field } }
  }
}`;
const REVOKE = `mutation ($id: ID!) {
  revokeToken(id: $id) { __typename ... on RevokeTokenPayload { token { id revokedAt active } } ... on Error { message } }
}`;
const TOKEN_FIELDS = "id prefix user { name } role createdAt expiresAt lastUsedAt revokedAt active";

let api: TestApi;
let url: string;
let admin: string;

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.start(0);
  admin = await api.login("tok-admin", "ADMIN");
});
afterAll(() => api?.close());

async function create(input: object): Promise<{ token: string; details: Record<string, unknown> & { id: string } }> {
  const { createToken } = await api.ok(admin, CREATE, { input });
  expect(createToken.__typename).toBe("CreateTokenPayload");
  return createToken;
}

async function refused(token: string, why: RegExp = /./) {
  const { data, errors } = await api.gql(token, "{ viewer { name } }");
  expect(data).toBeNull();
  expect(errors?.[0]?.message).toMatch(/^Not authorized/);
  expect(errors?.[0]?.message).toMatch(why);
}

/** A token's row made by hand, for tokens createToken does not make. */
async function storeHash(token: string, userName: string) {
  const [user] = await api.database.db.select({ id: users.id }).from(users).where(eq(users.name, userName));
  await api.database.db.insert(apiTokens).values({ userId: user?.id as string, hash: sha256(token) });
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("token format", () => {
  it("gives new tokens the gaol_ prefix and a checksum, and lists only their first characters", async () => {
    const { token, details } = await create({ user: "tok-fmt" });
    expect(token).toMatch(/^gaol_[0-9A-Za-z]{36}$/);
    expect(tokenShape(token)).toBe("checksummed");
    expect(details.prefix).toBe(token.slice(0, 10));
    const listed = JSON.stringify(await api.ok(admin, `{ tokens { ${TOKEN_FIELDS} } }`));
    expect(listed).toContain(details.prefix);
    expect(listed).not.toContain(token);
    expect(listed).not.toContain(sha256(token));
  });

  it("refuses a token whose checksum is wrong without looking it up", async () => {
    const { token } = await create({ user: "tok-sum" });
    const last = token.at(-1) === "A" ? "B" : "A";
    const forged = `${token.slice(0, -1)}${last}`;
    // Were it looked up, this row would let it in: only the checksum keeps it out.
    await storeHash(forged, "tok-sum");
    await refused(forged, /not a whole gaol token .*: check it was copied in full$/);
    expect((await api.ok(token, "{ viewer { name } }")).viewer.name).toBe("tok-sum");
  });

  it("keeps accepting tokens made before checksums, and learns their prefix on first use", async () => {
    await create({ user: "tok-old" });
    const legacy = `gaol_${randomBytes(32).toString("base64url")}`;
    await storeHash(legacy, "tok-old");
    expect((await api.ok(legacy, "{ viewer { name } }")).viewer.name).toBe("tok-old");
    const { tokens } = await api.ok(admin, `{ tokens(user: "tok-old") { prefix } }`);
    expect(tokens.map((t: { prefix: string }) => t.prefix)).toContain(legacy.slice(0, 10));
  });
});

describe("expiry", () => {
  it("refuses an expired token over HTTP and on graphql-ws", async () => {
    const { token, details } = await create({ user: "tok-exp", expiresInSeconds: 1 });
    expect(Date.parse(details.expiresAt as string) - Date.now()).toBeLessThan(1500);
    expect((await api.ok(token, "{ viewer { name } }")).viewer.name).toBe("tok-exp");
    const live = wsClient(url, token);
    expect(await take(live, "{ viewer { name } }", {}, 1)).toEqual([{ viewer: { name: "tok-exp" } }]);
    await live.dispose();

    await new Promise((r) => setTimeout(r, 1200));
    await refused(token, /this token expired at \d{4}-.*Z: ask an admin for a new one \(gaol token create\)$/);
    const late = wsClient(url, token);
    await expect(take(late, "subscription { machines { name } }", {}, 1)).rejects.toThrow(/Not authorized.*expired/);
    await expect(take(late, "{ viewer { name } }", {}, 1)).rejects.toThrow(/Not authorized/);
    await late.dispose();
    const { tokens } = await api.ok(admin, `{ tokens(user: "tok-exp") { active expiresAt } }`);
    expect(tokens[0].active).toBe(false);
  });

  it("takes a lifetime of 1 s to ten years", async () => {
    const { createToken } = await api.ok(admin, CREATE, { input: { user: "tok-life", expiresInSeconds: 0 } });
    expect(createToken).toEqual({ __typename: "ValidationError", fields: [{ field: "expiresInSeconds" }] });
  });
});

describe("revokeToken", () => {
  it("stops a token at once: an owner's own, any for an admin; another's token looks like none", async () => {
    const first = await create({ user: "tok-ann" });
    const second = await create({ user: "tok-ann" });
    const bob = (await create({ user: "tok-bob" })).token;

    const byBob = await api.ok(bob, REVOKE, { id: second.details.id });
    expect(byBob.revokeToken.__typename).toBe("NotFoundError");
    expect((await api.ok(second.token, "{ viewer { name } }")).viewer.name).toBe("tok-ann");

    const own = await api.ok(first.token, REVOKE, { id: second.details.id });
    expect(own.revokeToken.token).toMatchObject({ id: second.details.id, active: false });
    await refused(second.token, /this token was revoked at .*: ask an admin for a new one/);
    const again = await api.ok(first.token, REVOKE, { id: second.details.id });
    expect(again.revokeToken.token.revokedAt).toBe(own.revokeToken.token.revokedAt);

    const mine = await api.ok(first.token, `{ viewer { tokens { id revokedAt } } }`);
    expect(mine.viewer.tokens.map((t: { id: string }) => t.id).sort()).toEqual(
      [first.details.id, second.details.id].sort(),
    );
    expect((await api.ok(first.token, `{ tokens(user: "tok-bob") { id } }`)).tokens).toEqual([]);

    await api.ok(admin, REVOKE, { id: first.details.id });
    await refused(first.token);
    const ghost = await api.ok(admin, REVOKE, { id: "not-a-token" });
    expect(ghost.revokeToken.__typename).toBe("NotFoundError");
  });

  it("keeps other users' tokens from anyone but an admin, even through a machine's owner", async () => {
    const agent = await api.login("tok-host", "AGENT");
    const carol = (await create({ user: "tok-carol", hostUser: "carol" })).token;
    await api.ok(carol, 'mutation { provisionMachine(input: { name: "seen" }) { __typename } }');
    const { errors } = await api.gql(agent, "{ machines { edges { node { owner { name tokens { id } } } } } }");
    expect(errors?.[0]?.message).toMatch(/Not authorized/);
    const byAdmin = await api.ok(admin, `{ tokens(user: "tok-carol") { user { tokens { id } } } }`);
    expect(byAdmin.tokens[0].user.tokens).toHaveLength(1);
  });
});

describe("a refusal", () => {
  it("says what to do when no token or an unknown one is sent, and nothing more to a role too low", async () => {
    const none = await api.gql(undefined as never, "{ viewer { name } }");
    expect(none.errors?.[0]?.message).toMatch(/^Not authorized.*: no token was sent: send yours as the header/);
    await refused(newToken(), /this token is unknown: ask an admin for a new one/);
    const user = (await create({ user: "tok-low" })).token;
    const low = await api.gql(user, "{ hosts { name } }");
    expect(low.errors?.[0]?.message).toBe("Not authorized to resolve Query.hosts");
  });
});

describe("lastUsedAt", () => {
  it("is set on first use and written again only after a minute", async () => {
    const { token, details } = await create({ user: "tok-used" });
    expect(details.lastUsedAt).toBeNull();
    const lastUsed = async () =>
      (await api.ok(admin, `{ tokens(user: "tok-used") { lastUsedAt } }`)).tokens[0].lastUsedAt as string;
    await api.ok(token, "{ viewer { name } }");
    const first = await lastUsed();
    expect(first).not.toBeNull();
    await new Promise((r) => setTimeout(r, 20));
    await api.ok(token, "{ viewer { name } }");
    expect(await lastUsed()).toBe(first);
    await api.database.db.execute(
      `update api_tokens set last_used_at = now() - interval '2 minutes' where id = '${details.id}'` as never,
    );
    const old = await lastUsed();
    await api.ok(token, "{ viewer { name } }");
    expect(Date.parse(await lastUsed())).toBeGreaterThan(Date.parse(old));
  });
});
