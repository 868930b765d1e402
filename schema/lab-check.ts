import { isCourseStaff, LAB_CHECK_STATES, NotFoundError, ValidationError } from "../core/index.js";
import { courseById, type Lab, labById } from "../db/queries/courses.js";
import {
  type LabCheck,
  type LabCheckResult,
  labCheckById,
  labCheckResultsOf,
  labChecksOf,
  pendingLabCheckOf,
} from "../db/queries/lab-checks.js";
import { machineById } from "../db/queries/machines.js";
import { reportLabCheckResult, runLabCheck } from "../services/lab-checks.js";
import { builder } from "./builder.js";
import { actorOf, type Context, canSeeMachine, spendMutation } from "./context.js";
import { LabRef, roleIn } from "./course.js";
import { limited } from "./errors.js";
import { MachineRef } from "./machine.js";

const LabCheckStateEnum = builder.enumType("LabCheckState", {
  description: "PASSED: the script exited 0; FAILED: another code; ERROR: it could not run (the output says why)",
  values: LAB_CHECK_STATES,
});

type ResultRow = { result: LabCheckResult; machineName: string; ownerName: string };

const LabCheckResultRef = builder.objectRef<ResultRow>("LabCheckResult").implement({
  description: "A lab check on one student's machine",
  fields: (t) => ({
    owner: t.string({ description: "The student (the machine's owner)", resolve: (r) => r.ownerName }),
    machineName: t.string({ resolve: (r) => r.machineName }),
    machine: t.field({
      type: MachineRef,
      nullable: true,
      resolve: async (r, _args, ctx) => {
        const machine = await machineById(ctx.db, r.result.machineId);
        return machine && canSeeMachine(ctx, machine) ? machine : null;
      },
    }),
    state: t.field({ type: LabCheckStateEnum, resolve: (r) => r.result.state }),
    exitCode: t.int({ nullable: true, resolve: (r) => r.result.exitCode }),
    output: t.string({
      nullable: true,
      description: "Its last 16 KiB, stdout and stderr",
      resolve: (r) => r.result.output,
    }),
    finishedAt: t.field({ type: "DateTime", nullable: true, resolve: (r) => r.result.finishedAt }),
  }),
});

const LabCheckRef = builder.objectRef<LabCheck>("LabCheck").implement({
  description: "One run of a lab's check across its machines, by course staff",
  fields: (t) => ({
    id: t.exposeID("id"),
    lab: t.field({ type: LabRef, resolve: async (c, _args, ctx) => (await labById(ctx.db, c.labId)) as Lab }),
    requestedBy: t.exposeString("requestedBy"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    results: t.field({ type: [LabCheckResultRef], resolve: (c, _args, ctx) => labCheckResultsOf(ctx.db, c.id) }),
    done: t.boolean({
      description: "No result is PENDING",
      resolve: async (c, _args, ctx) =>
        (await labCheckResultsOf(ctx.db, c.id)).every((r) => r.result.state !== "PENDING"),
    }),
  }),
});

/** Whether the viewer is staff of the lab's course (an admin is). */
async function staffOfLab(ctx: Context, labId: string): Promise<boolean> {
  const lab = await labById(ctx.db, labId);
  const course = lab && (await courseById(ctx.db, lab.courseId));
  return course !== undefined && isCourseStaff(await roleIn(ctx, course));
}

builder.objectFields(LabRef, (t) => ({
  checkScript: t.string({
    nullable: true,
    description: "Staff only: the script runLabCheck runs as root in each machine",
    resolve: async (l, _args, ctx) => ((await staffOfLab(ctx, l.id)) ? l.checkScript : null),
  }),
  checkTimeoutSeconds: t.exposeInt("checkTimeoutSeconds"),
  checks: t.field({
    type: [LabCheckRef],
    description: "Staff only: the lab's check runs, newest first",
    args: { last: t.arg.int({ required: false, description: "How many (default 10, at most 100)" }) },
    resolve: async (l, args, ctx) =>
      (await staffOfLab(ctx, l.id)) ? labChecksOf(ctx.db, l.id, Math.min(100, Math.max(1, args.last ?? 10))) : [],
  }),
}));

const PendingLabCheckRef = builder
  .objectRef<{ id: string; script: string; timeoutSeconds: number }>("PendingLabCheck")
  .implement({
    description: "AGENT: a check to run in this machine and report with reportLabCheckResult",
    fields: (t) => ({
      id: t.exposeID("id"),
      script: t.exposeString("script"),
      timeoutSeconds: t.exposeInt("timeoutSeconds"),
    }),
  });

builder.objectFields(MachineRef, (t) => ({
  pendingCheck: t.field({
    type: PendingLabCheckRef,
    nullable: true,
    description: "AGENT: the oldest lab check waiting for this machine's host (null to anyone else)",
    resolve: async (m, _args, ctx) =>
      ctx.viewer?.user.role === "AGENT" ? ((await pendingLabCheckOf(ctx.db, m.id)) ?? null) : null,
  }),
}));

builder.queryField("labCheck", (t) =>
  t.field({
    type: LabCheckRef,
    nullable: true,
    description: "A lab check run, for its course's staff",
    authScopes: { user: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const check = await labCheckById(ctx.db, String(id)).catch(() => undefined);
      return check && (await staffOfLab(ctx, check.labId)) ? check : null;
    },
  }),
);

builder.mutationField("runLabCheck", (t) =>
  t.field({
    type: builder.objectRef<LabCheck>("RunLabCheckPayload").implement({
      fields: (f) => ({ check: f.field({ type: LabCheckRef, resolve: (c) => c }) }),
    }),
    description: "Course staff: runs the lab's check script as root in each of its live machines",
    authScopes: { user: true },
    args: { course: t.arg.string({ required: true }), lab: t.arg.string({ required: true }) },
    errors: {
      types: limited(ValidationError, NotFoundError),
      directResult: true,
      union: { name: "RunLabCheckResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return runLabCheck(ctx.db, actorOf(ctx), { user: ctx.viewer?.user as never }, args.course, args.lab);
    },
  }),
);

builder.mutationField("reportLabCheckResult", (t) =>
  t.boolean({
    description: "AGENT: how a lab check went in one of this host's machines; false when already reported",
    authScopes: { agent: true },
    args: {
      checkId: t.arg.id({ required: true }),
      machineId: t.arg.globalID({ required: true, for: [MachineRef] }),
      exitCode: t.arg.int({ required: false }),
      output: t.arg.string({ required: true }),
      error: t.arg.string({ required: false, description: "Why it could not run (no exit code then)" }),
    },
    resolve: (_root, args, ctx) =>
      reportLabCheckResult(ctx.db, ctx.viewer?.hostId as string, {
        checkId: String(args.checkId),
        machineId: args.machineId.id,
        exitCode: args.exitCode,
        output: args.output,
        error: args.error,
      }),
  }),
);
