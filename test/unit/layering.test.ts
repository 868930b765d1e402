import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Which folders each folder's code may import (its own always). Imports flow one way: see docs/design.md. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  db: ["core"],
  services: ["db", "core"],
  live: ["db", "core"],
  schema: ["services", "live", "db", "core"],
  api: ["schema", "services", "live", "db", "core"],
  host: ["core"],
  agent: ["host", "core"],
  clients: ["core"],
};

/** The top folder a repository path is in. */
const folderOf = (path: string) => path.split("/")[0] ?? "";

/** Every relative import of a source file, as repository paths. */
function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:from\s*|import\s*\(\s*|^import\s*)["'](\.{1,2}\/[^"']+)["']/gm)];
  return specifiers.map((m) => relative(root, resolve(dirname(join(root, file)), m[1] as string)));
}

/** The imports that break the layering, as "file → target". */
function violations(files: ReadonlyArray<{ file: string; text: string }>): string[] {
  const found: string[] = [];
  for (const { file, text } of files) {
    const from = folderOf(file);
    const allowed = MAY_IMPORT[from];
    if (!allowed) continue;
    for (const target of importsOf(file, text)) {
      const to = folderOf(target);
      if (to !== from && !allowed.includes(to)) found.push(`${file} → ${target}`);
    }
  }
  return found;
}

function sources(dir: string): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && entry.name !== "dist") out.push(...sources(path));
    } else if (/\.(ts|mts|mjs|js)$/.test(entry.name)) {
      out.push({ file: path, text: readFileSync(join(root, path), "utf8") });
    }
  }
  return out;
}

describe("layering", () => {
  it("imports flow one way: core ← db ← services/live ← schema ← api; core ← host ← agent; clients on core", () => {
    const files = Object.keys(MAY_IMPORT).flatMap(sources);
    expect(files.length).toBeGreaterThan(100);
    expect(violations(files)).toEqual([]);
  });

  it("catches an import that goes the wrong way", () => {
    const files = [
      { file: "agent/x.ts", text: 'import { db } from "../db/client.js";\nimport { a } from "../core/index.js";' },
      { file: "db/y.ts", text: 'import type { Agent } from "../agent/agent.js";' },
      { file: "clients/cli/z.ts", text: 'const m = await import("../../schema/index.js");' },
      { file: "core/w.ts", text: 'import { run } from "../host/exec/run.js";' },
    ];
    expect(violations(files)).toEqual([
      "agent/x.ts → db/client.js",
      "db/y.ts → agent/agent.js",
      "clients/cli/z.ts → schema/index.js",
      "core/w.ts → host/exec/run.js",
    ]);
  });
});
