import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { type App, buildApp } from "../../api/app.js";
import type { DialMachine } from "../../api/screens/ssh.js";
import type { Log, RateLimit } from "../../core/index.js";
import type { Database } from "../../db/client.js";
import { heartbeat, hostOfAgent } from "../../db/queries/hosts.js";
import { createToken } from "../../db/queries/tokens.js";
import { ensureUser, type Role } from "../../db/queries/users.js";
import { testDatabase } from "./database.js";

// biome-ignore lint/suspicious/noExplicitAny: tests read GraphQL results loosely and assert on them.
type Loose = any;

export interface GqlResult<T = Record<string, Loose>> {
  data?: T;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> }>;
}

export interface TestApi {
  app: App;
  database: Database;
  url?: string;
  /** POSTs through yoga.fetch, as a client would. */
  gql<T = Record<string, Loose>>(token: string | undefined, query: string, variables?: object): Promise<GqlResult<T>>;
  /** gql's data, for a request that must succeed: any error fails the test with the errors' messages. */
  ok(token: string, query: string, variables?: object): Promise<Loose>;
  /** A user (or agent, whose host gets a heartbeat and room) and a token for them. */
  login(name: string, role?: Role, options?: { hostMemoryMiB?: number; hostMaxMachines?: number }): Promise<string>;
  /** Stops this replica and removes its state directory; the database stays for other replicas. */
  stop(): Promise<void>;
  /** stop(), then drops the test database. */
  close(): Promise<void>;
}

/** For runs that measure something else than the per-token mutation limit. */
export const NO_RATE_LIMIT: RateLimit = { burst: 0, perSecond: 0 };

export async function startTestApi(
  kind: "postgres" | "pglite" = "postgres",
  existing?: Database,
  options: {
    rateLimit?: RateLimit;
    passIntervalMs?: number;
    hostDownSeconds?: number;
    dialMachine?: DialMachine;
    log?: Log;
  } = {},
): Promise<TestApi> {
  const db = existing ? { database: existing, drop: async () => undefined } : await testDatabase(kind);
  const stateDir = await mkdtemp(join(tmpdir(), "gaol-api-"));
  const app = await buildApp({
    database: db.database,
    stateDir,
    rateLimit: options.rateLimit,
    passIntervalMs: options.passIntervalMs,
    hostDownSeconds: options.hostDownSeconds,
    dialMachine: options.dialMachine,
    log: options.log,
  });
  await app.prepare();
  const gql = async (token: string | undefined, query: string, variables?: object) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await app.yoga.fetch("http://gaol.test/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GqlResult<Loose>;
  };
  const stop = async () => {
    await app.stop();
    await rm(stateDir, { recursive: true, force: true });
  };
  const api: TestApi = {
    app,
    database: db.database,
    gql,
    async ok(token, query, variables) {
      const { data, errors } = await gql(token, query, variables);
      if (errors) throw new Error(`unexpected errors: ${errors.map((e) => e.message).join("; ")}`);
      return data;
    },
    async login(name, role = "USER", options = {}) {
      const user = await ensureUser(db.database.db, { name, role, hostUser: role === "USER" ? name : undefined });
      if (role === "AGENT") {
        const host = await hostOfAgent(db.database.db, user.id);
        await heartbeat(db.database.db, host?.id as string, {
          memoryMiB: options.hostMemoryMiB ?? 65_536,
          maxMachines: options.hostMaxMachines ?? 100,
        });
      }
      return (await createToken(db.database.db, user.id)).secret;
    },
    stop,
    // Through api.stop: a test that swaps in a restarted replica swaps its stop too.
    async close() {
      await api.stop();
      await db.drop();
    },
  };
  return api;
}

/** A graphql-ws client for url with the token in connectionParams. */
export function wsClient(url: string, token: string, options: { retryAttempts?: number } = {}): Client {
  return createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: options.retryAttempts ?? 0,
    lazy: true,
  });
}

/** Collects n results of a subscription, then unsubscribes. */
export async function take<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  n: number,
  timeoutMs = 10_000,
) {
  const results: T[] = [];
  const iterator = client.iterate<T>({ query, variables });
  const timer = setTimeout(() => void iterator.return?.(), timeoutMs);
  try {
    for await (const result of iterator) {
      if (result.errors) throw new Error(result.errors.map((e) => e.message).join("; "));
      results.push(result.data as T);
      if (results.length >= n) break;
    }
  } catch (error) {
    // graphql-ws rejects with the GraphQL errors array when the subscribe call itself fails.
    if (Array.isArray(error)) throw new Error(error.map((e: { message: string }) => e.message).join("; "));
    throw error;
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
  return results;
}
