import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GENERATED, type GeneratedFile, generateTypedDocuments } from "../../scripts/sdk-codegen.js";

describe("the generated typed documents", () => {
  it("match schema/schema.graphql and each operations.graphql (run npm run write:sdk)", async () => {
    const generated = await generateTypedDocuments();
    for (const path of Object.keys(GENERATED) as GeneratedFile[]) {
      const committed = readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
      expect(committed === generated[path], `${path} is stale: run npm run write:sdk`).toBe(true);
    }
  });
});
