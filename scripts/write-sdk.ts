// Writes clients/sdk/generated.ts; a test fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { generateSdk } from "./sdk-codegen.js";

writeFileSync(new URL("../clients/sdk/generated.ts", import.meta.url), await generateSdk());
