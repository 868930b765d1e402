import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateSdk } from "../../scripts/sdk-codegen.js";

describe("the SDK's generated operations", () => {
  it("match schema/schema.graphql and clients/sdk/operations.graphql (run npm run write:sdk)", async () => {
    const committed = readFileSync(new URL("../../clients/sdk/generated.ts", import.meta.url), "utf8");
    expect(committed === (await generateSdk()), "clients/sdk/generated.ts is stale: run npm run write:sdk").toBe(true);
  });
});
