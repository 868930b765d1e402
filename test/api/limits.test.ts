import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMIT } from "../../core/index.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

const REBOOT = `mutation ($id: ID!) {
  rebootMachine(id: $id) { __typename ... on RateLimitedError { message retryAfterSeconds } }
}`;
const GHOST = Buffer.from("Machine:00000000-0000-4000-8000-000000000000").toString("base64");

let api: TestApi;
let agent: string;

beforeAll(async () => {
  api = await startTestApi();
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
