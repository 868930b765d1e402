import type { IncomingMessage, ServerResponse } from "node:http";
import { and, count, eq, isNotNull, ne, sql } from "drizzle-orm";
import type { DefinitionNode, OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { Db } from "../db/client.js";
import { courses, hosts, machines } from "../db/schema.js";
import { contextFor } from "./context.js";

type Deps = Parameters<typeof contextFor>[0];

/**
 * Prometheus metrics of this replica: machines by state and host, hosts' heartbeat age and lab
 * machines by course (read from the database on each scrape, so every replica tells the same),
 * GraphQL operations by kind and outcome and open graphql-ws sockets (this replica's own), and
 * Node's process metrics.
 */
export function createMetrics(db: Db, sockets: () => number) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "gaol_" });
  new Gauge({
    name: "gaol_machines",
    help: "Machines not yet DESTROYED, by state and host",
    labelNames: ["state", "host"],
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ state: machines.state, host: hosts.name, n: count() })
        .from(machines)
        .leftJoin(hosts, eq(hosts.id, machines.hostId))
        .where(ne(machines.state, "DESTROYED"))
        .groupBy(machines.state, hosts.name);
      this.reset();
      for (const r of rows) this.set({ state: r.state, host: r.host ?? "none" }, r.n);
    },
  });
  new Gauge({
    name: "gaol_host_heartbeat_age_seconds",
    help: "Seconds since each host's agent last sent a heartbeat",
    labelNames: ["host"],
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ name: hosts.name, age: sql<number>`extract(epoch from now() - ${hosts.lastHeartbeatAt})` })
        .from(hosts)
        .where(isNotNull(hosts.lastHeartbeatAt));
      this.reset();
      for (const r of rows) this.set({ host: r.name }, Number(r.age));
    },
  });
  new Gauge({
    name: "gaol_course_lab_machines",
    help: "Live lab machines, by course",
    labelNames: ["course"],
    registers: [registry],
    async collect() {
      const rows = await db
        .select({ course: courses.name, n: count() })
        .from(machines)
        .innerJoin(courses, eq(courses.id, machines.courseId))
        .where(and(ne(machines.state, "DESTROYED"), ne(machines.desiredState, "DESTROYED")))
        .groupBy(courses.name);
      this.reset();
      for (const r of rows) this.set({ course: r.course }, r.n);
    },
  });
  new Gauge({
    name: "gaol_graphql_ws_sockets",
    help: "graphql-ws sockets open on this replica (agents and subscribers)",
    registers: [registry],
    collect() {
      this.set(sockets());
    },
  });
  const operations = new Counter({
    name: "gaol_graphql_operations_total",
    help: "GraphQL operations this replica ran, by kind and outcome (ok, or errors at the top level)",
    labelNames: ["kind", "outcome"],
    registers: [registry],
  });
  /** Counts each executed operation: a typed error in a union is an ok execution, an auth failure or a bug is not. */
  const plugin: Plugin = {
    onExecute({ args }) {
      const [definition] = args.document.definitions.filter((d: DefinitionNode) => d.kind === "OperationDefinition");
      const kind = (definition as OperationDefinitionNode | undefined)?.operation ?? "unknown";
      return {
        onExecuteDone({ result }) {
          const failed = "errors" in result && Array.isArray(result.errors) && result.errors.length > 0;
          operations.inc({ kind, outcome: failed ? "error" : "ok" });
        },
      };
    },
  };
  return { registry, plugin };
}

/**
 * `/metrics` for an admin's token (Prometheus sends it as a bearer credential); `/healthz` says
 * the process answers; `/readyz` that its database does. False for any other path.
 */
export async function serveOperations(
  req: IncomingMessage,
  res: ServerResponse,
  deps: Deps & { registry: Registry },
): Promise<boolean> {
  const path = new URL(req.url ?? "/", "http://gaol").pathname;
  if (req.method !== "GET" || !["/metrics", "/healthz", "/readyz"].includes(path)) return false;
  const answer = (status: number, body: string, type = "text/plain; charset=utf-8") => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(body);
    return true;
  };
  if (path === "/healthz") return answer(200, "ok\n");
  if (path === "/readyz") {
    const ready = await deps.db.execute(sql`select 1`).then(
      () => true,
      () => false,
    );
    return ready ? answer(200, "ready\n") : answer(503, "the database does not answer\n");
  }
  const context = await contextFor(deps, req.headers.authorization);
  if (context.viewer?.user.role !== "ADMIN")
    return answer(401, "metrics need an admin's token: Authorization: Bearer gaol_…\n");
  return answer(200, await deps.registry.metrics(), deps.registry.contentType);
}
