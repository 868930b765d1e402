import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogFields } from "../../core/index.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

const lines: Array<{ line: string; fields?: LogFields }> = [];
let api: TestApi;
let user: string;

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, {
    passIntervalMs: 0,
    log: (line, fields) => lines.push({ line, fields }),
  });
  user = await api.login("reqlog-user");
});
afterAll(() => api?.close());

const post = (query: string, headers: Record<string, string> = {}) =>
  api.app.yoga.fetch("http://gaol.test/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${user}`, ...headers },
    body: JSON.stringify({ query }),
  });

describe("request ids", () => {
  it("echo a balancer's X-Request-Id and log each mutation under it, with who and how long", async () => {
    const response = await post(`mutation Up { provisionMachine(input: { name: "reqlog" }) { __typename } }`, {
      "x-request-id": "7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A",
    });
    expect(response.headers.get("x-request-id")).toBe("7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A");
    const logged = lines.find((l) => l.fields?.requestId === "7F000001:8296_7F00001E:1F90_4F7B0A69_0003:790A");
    expect(logged?.line).toBe("mutation Up done");
    expect(logged?.fields).toMatchObject({ user: "reqlog-user", level: "info" });
    expect(logged?.fields?.ms).toEqual(expect.any(Number));
  });

  it("are made when none or a malformed one is given, and a failed query is logged with its error", async () => {
    const response = await post("{ hosts { name } }", { "x-request-id": "not an id; rm -rf /" });
    const id = response.headers.get("x-request-id") as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const logged = lines.find((l) => l.fields?.requestId === id);
    expect(logged?.line).toMatch(/^query \(anonymous\) failed: Not authorized/);
    expect(logged?.fields?.level).toBe("warn");
    // A query that went well is not logged: polls would drown the log.
    const before = lines.length;
    await post("{ viewer { name } }");
    expect(lines.length).toBe(before);
  });
});
