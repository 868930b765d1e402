import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMIT } from "../../core/index.js";
import { startTestApi, type TestApi, take, wsClient } from "../helpers/api.js";

const REBOOT = `mutation ($id: ID!) {
  rebootMachine(id: $id) { __typename ... on RateLimitedError { message retryAfterSeconds } }
}`;
const GHOST = Buffer.from("Machine:00000000-0000-4000-8000-000000000000").toString("base64");

let api: TestApi;
let url: string;
let agent: string;

beforeAll(async () => {
  api = await startTestApi();
  url = await api.app.start(0);
  agent = await api.login("lim-host", "AGENT");
});
afterAll(() => api?.close());

describe("the mutation rate limit", () => {
  it("answers a flood from one token with RateLimitedError and a retry time, and serves other tokens", async () => {
    const flooder = await api.login("lim-flood");
    const other = await api.login("lim-other");
    const kinds: string[] = [];
    let limited: { message: string; retryAfterSeconds: number } | undefined;
    for (let i = 0; i < DEFAULT_RATE_LIMIT.burst + 5 && !limited; i++) {
      const { data } = await api.gql(flooder, REBOOT, { id: GHOST });
      kinds.push(data?.rebootMachine.__typename);
      if (data?.rebootMachine.__typename === "RateLimitedError") limited = data.rebootMachine;
    }
    expect(kinds.slice(0, DEFAULT_RATE_LIMIT.burst).every((k) => k === "NotFoundError")).toBe(true);
    expect(limited?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(limited?.message).toMatch(/try again in \d+ seconds?$/);

    const provision = 'mutation { provisionMachine(input: { name: "lim-1" }) { __typename } }';
    expect((await api.gql(flooder, provision)).data?.provisionMachine.__typename).toBe("RateLimitedError");
    expect((await api.gql(other, provision)).data?.provisionMachine.__typename).toBe("ProvisionMachinePayload");

    await new Promise((r) => setTimeout(r, (limited?.retryAfterSeconds ?? 1) * 1000 + 50));
    expect((await api.gql(flooder, REBOOT, { id: GHOST })).data?.rebootMachine.__typename).toBe("NotFoundError");
  });

  it("never limits an agent's reports", async () => {
    const report = "mutation { hostHeartbeat(memoryMiB: 65536, maxMachines: 100) { name } }";
    const answers = await Promise.all(
      Array.from({ length: DEFAULT_RATE_LIMIT.burst * 2 }, () => api.gql(agent, report)),
    );
    expect(answers.every((a) => a.errors === undefined && a.data?.hostHeartbeat.name === "lim-host")).toBe(true);
  });
});

describe("query limits (GraphQL Armor)", () => {
  it("refuses a document with too many aliases", async () => {
    const user = await api.login("lim-alias");
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { name }`).join(" ")} }`;
    expect((await api.gql(user, aliased(15))).errors).toBeUndefined();
    const { errors } = await api.gql(user, aliased(16));
    expect(errors?.[0]?.message).toMatch(/Aliases limit of 15 exceeded, found 16: ask for fewer/);
  });

  it("refuses pages within pages, over HTTP and graphql-ws, and serves one big page", async () => {
    const user = await api.login("lim-cost");
    const page = "{ machines(first: 500) { edges { node { name state ipAddress owner { name } } } } }";
    expect((await api.gql(user, page)).errors).toBeUndefined();
    const nested = "{ machines(first: 500) { edges { node { name events(first: 500) { cursor at } } } } }";
    const { errors } = await api.gql(user, nested);
    expect(errors?.[0]?.message).toMatch(/Cost limit of 100000 exceeded, found \d+: select fewer fields/);
    const client = wsClient(url, user);
    await expect(take(client, nested, {}, 1)).rejects.toThrow(/Cost limit of 100000 exceeded/);
    expect(await take(client, "{ viewer { name } }", {}, 1)).toEqual([{ viewer: { name: "lim-cost" } }]);
    await client.dispose();
  });

  it("stops parsing a document of too many tokens, over HTTP and graphql-ws", async () => {
    const user = await api.login("lim-tokens");
    const huge = `{ viewer { ${"name ".repeat(5000)} } }`;
    const { errors } = await api.gql(user, huge);
    expect(errors?.[0]?.message).toMatch(/Token limit of 5000 exceeded: send a smaller document/);
    const client = wsClient(url, user);
    await expect(take(client, huge, {}, 1)).rejects.toThrow(/Token limit of 5000 exceeded: send a smaller document/);
    await client.dispose();
  });

  it("lets GraphiQL's introspection through", async () => {
    const user = await api.login("lim-intro");
    const { data, errors } = await api.gql(user, getIntrospectionQuery());
    expect(errors).toBeUndefined();
    expect(data?.__schema.queryType.name).toBe("Query");
  });
});
