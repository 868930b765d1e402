import type { IncomingMessage, ServerResponse } from "node:http";
import { and, count, eq, isNotNull, ne, sql } from "drizzle-orm";
import type { DefinitionNode, OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Db } from "../db/client.js";
import type { StoredEvent } from "../db/queries/events.js";
import { machineById } from "../db/queries/machines.js";
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
  const boot = new Histogram({
    name: "gaol_boot_seconds",
    help: "From a machine's provision to its READY (each boot; a reboot counts from the provision too)",
    buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60],
    registers: [registry],
  });
  const stage = new Histogram({
    name: "gaol_boot_stage_seconds",
    help: "Guest uptime at each boot stage startenv reports",
    labelNames: ["stage"],
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
    registers: [registry],
  });
  const lag = new Histogram({
    name: "gaol_event_report_lag_seconds",
    help: "From an event's time on its host to its storing by this replica",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: "gaol_machine_outcomes_total",
    help: "Machines this replica saw reach READY, FAILED or DESTROYED (from their hosts' reports)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  /** Each stored report's events: their lag, boot stages, and the states that end a boot or a machine. */
  const observeEvents = (machineId: string, events: readonly StoredEvent[]) => {
    const now = Date.now();
    for (const event of events) {
      lag.observe(Math.max(0, now - event.at.getTime()) / 1000);
      const payload = event.payload as { stage?: string; uptimeSeconds?: number; state?: string };
      if (event.kind === "BootStageReached" && payload.stage && typeof payload.uptimeSeconds === "number")
        stage.observe({ stage: payload.stage }, payload.uptimeSeconds);
      if (event.kind !== "MachineStateChanged" || !payload.state) continue;
      if (["READY", "FAILED", "DESTROYED"].includes(payload.state)) outcomes.inc({ outcome: payload.state });
      if (payload.state === "READY") {
        const readyAt = event.at.getTime();
        void machineById(db, machineId).then((m) => {
          if (m) boot.observe(Math.max(0, readyAt - m.createdAt.getTime()) / 1000);
        });
      }
    }
  };
  return { registry, plugin, observeEvents };
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
