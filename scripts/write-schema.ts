// Writes schema/schema.graphql from the Pothos schema; a test fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { printSchema } from "graphql";
import { schema } from "../schema/index.js";

writeFileSync(new URL("../schema/schema.graphql", import.meta.url), `${printSchema(schema)}\n`);
