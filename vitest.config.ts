import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql for all: Vite would pick its ESM build for our files while Node
    // gives the CJS one to graphql-yoga, and errors would stop being GraphQLErrors.
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // A private Postgres server for the run (the API tests' real database).
    globalSetup: ["test/helpers/postgres-server.ts"],
    // End-to-end files boot real machines: give them time, and run files in parallel.
    testTimeout: 180_000,
    hookTimeout: 600_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
