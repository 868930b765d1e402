// Writes clients/sdk/generated.ts and agent/api/generated.ts; a test fails when either committed file is stale.
import { writeFileSync } from "node:fs";
import { generateTypedDocuments } from "./sdk-codegen.js";

for (const [path, content] of Object.entries(await generateTypedDocuments())) {
  writeFileSync(new URL(`../${path}`, import.meta.url), content);
}
