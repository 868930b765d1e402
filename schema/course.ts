import { resolveOffsetConnection } from "@pothos/plugin-relay";
import {
  COURSE_ROLES,
  type CourseRole,
  ExtensionRefusedError,
  ImageNotFoundError,
  InvalidStateError,
  isCourseStaff,
  LabNotOpenError,
  NotFoundError,
  ValidationError,
} from "../core/index.js";
import {
  type Course,
  type CourseMember,
  courseById,
  coursesOf,
  type Lab,
  labById,
  labsOf,
  membersOf,
} from "../db/queries/courses.js";
import { imageById } from "../db/queries/images.js";
import { listMachines } from "../db/queries/machines.js";
import type { User } from "../db/queries/users.js";
import {
  createCourse,
  createCourseToken,
  createCourseTokens,
  createLab,
  enrol,
  extendMachine,
  extensionLeft,
  roleOf,
  startLab,
  visibleCourse,
} from "../services/courses.js";
import { builder } from "./builder.js";
import { actorOf, type Context, canSeeMachine, spendMutation } from "./context.js";
import { limited, MUTATION_ERRORS } from "./errors.js";
import { ImageRef } from "./image.js";
import { MachineRef, payload } from "./machine.js";
import { UserRef } from "./user.js";

export const CourseRoleEnum = builder.enumType("CourseRole", {
  description: "INSTRUCTOR and TA are the course's staff: they see its lab machines; students see their own",
  values: COURSE_ROLES,
});

/** The viewer's role in the course: an admin counts as its instructor. */
export async function roleIn(ctx: Context, course: Pick<Course, "id">): Promise<CourseRole | undefined> {
  return roleOf(ctx.db, ctx.viewer?.user as User, course.id);
}

const CourseMemberRef = builder.objectRef<CourseMember>("CourseMember").implement({
  fields: (t) => ({
    user: t.field({ type: UserRef, resolve: (m) => m.user }),
    role: t.field({ type: CourseRoleEnum, resolve: (m) => m.role }),
  }),
});

export const CourseRef = builder.objectRef<Course>("Course");
export const LabRef = builder.objectRef<Lab>("Lab");

CourseRef.implement({
  description: "A class: staff and students, labs, and budgets its lab machines share",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    title: t.exposeString("title", { nullable: true }),
    maxMachines: t.exposeInt("maxMachines", { nullable: true, description: "Live lab machines, all students" }),
    maxMemoryMiB: t.exposeInt("maxMemoryMiB", { nullable: true, description: "Their memory, all students" }),
    studentMaxMachines: t.exposeInt("studentMaxMachines", { nullable: true, description: "Each student's at once" }),
    hostAccountPrefix: t.exposeString("hostAccountPrefix", {
      nullable: true,
      description: "Host accounts its instructors may give start with this; null: only admins map them",
    }),
    viewerRole: t.field({
      type: CourseRoleEnum,
      description: "Your part in it",
      resolve: async (c, _a, ctx) => (await roleIn(ctx, c)) ?? "STUDENT",
    }),
    members: t.field({
      type: [CourseMemberRef],
      description: "Staff see everyone; a student sees the staff; anyone else (a host's agent) no one",
      resolve: async (c, _args, ctx) => {
        const role = await roleIn(ctx, c);
        if (!role) return [];
        const members = await membersOf(ctx.db, c.id);
        return isCourseStaff(role) ? members : members.filter((m) => isCourseStaff(m.role));
      },
    }),
    labs: t.field({
      type: [LabRef],
      description: "For its members (a host's agent, which sees a lab machine, sees none)",
      resolve: async (c, _args, ctx) => ((await roleIn(ctx, c)) ? labsOf(ctx.db, c.id) : []),
    }),
    machines: t.connection(
      {
        type: MachineRef,
        description: "The course's lab machines, newest first (staff: everyone's; a student: their own)",
        args: { live: t.arg.boolean({ required: false, description: "Only machines not DESTROYED" }) },
        resolve: async (c, args, ctx) => {
          const staff = isCourseStaff(await roleIn(ctx, c));
          return resolveOffsetConnection({ args }, ({ offset, limit }) =>
            listMachines(
              ctx.db,
              {
                courseId: c.id,
                live: args.live ?? false,
                // Not staff: their own only (nobody's, should there be no viewer).
                ownerId: staff ? undefined : (ctx.viewer?.user.id ?? "00000000-0000-0000-0000-000000000000"),
              },
              offset,
              limit,
            ),
          );
        },
      },
      { name: "CourseMachineConnection" },
      { name: "CourseMachineEdge" },
    ),
  }),
});

LabRef.implement({
  description: "A course's starter environment: image, memory, and how long its machines live",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name", { description: "Also its machines' default name" }),
    course: t.field({
      type: CourseRef,
      resolve: async (l, _args, ctx) => (await courseById(ctx.db, l.courseId)) as Course,
    }),
    image: t.field({ type: ImageRef, resolve: async (l, _args, ctx) => (await imageById(ctx.db, l.imageId)) as never }),
    imageVersion: t.exposeInt("imageVersion", { nullable: true }),
    memoryMiB: t.exposeInt("memoryMiB"),
    timeLimitSeconds: t.exposeInt("timeLimitSeconds", { description: "A machine's lease from its start" }),
    maxExtensionSeconds: t.exposeInt("maxExtensionSeconds", { description: "extendMachine may add this much in all" }),
    warnAtSeconds: t.exposeIntList("warnAtSeconds", {
      description: "MachineExpiring warnings, seconds before the end",
    }),
    machinesPerStudent: t.exposeInt("machinesPerStudent"),
    opensAt: t.expose("opensAt", {
      type: "DateTime",
      nullable: true,
      description: "A scheduled lab's start: its machines' leases run from here",
    }),
    idleLimitSeconds: t.exposeInt("idleLimitSeconds", {
      nullable: true,
      description: "A READY machine with no use the host could see for this long is ended (home kept)",
    }),
    prestartSeconds: t.exposeInt("prestartSeconds", {
      description: "How long before opensAt gaol boots the enrolled students' machines",
    }),
    prestartedAt: t.expose("prestartedAt", {
      type: "DateTime",
      nullable: true,
      description: "When gaol booted them (null until then)",
    }),
  }),
});

/** A machine's lab, when the viewer may see the machine (its fields are resolved only then). */
builder.objectFields(MachineRef, (t) => ({
  lab: t.field({
    type: LabRef,
    nullable: true,
    resolve: async (m, _args, ctx) => (m.labId ? ((await labById(ctx.db, m.labId)) ?? null) : null),
  }),
  expiresAt: t.expose("expiresAt", {
    type: "DateTime",
    nullable: true,
    description: "A lab machine's end: it is destroyed then (its owner's home directory is kept)",
  }),
  extendedSeconds: t.exposeInt("extendedSeconds", { description: "How much its lease has been extended" }),
  extensionLeftSeconds: t.int({
    nullable: true,
    description: "How much more extendMachine may add (lab machines only)",
    resolve: async (m, _args, ctx) => {
      const lab = m.labId ? await labById(ctx.db, m.labId) : undefined;
      return lab ? extensionLeft(m, lab) : null;
    },
  }),
}));

builder.queryField("courses", (t) =>
  t.field({
    type: [CourseRef],
    description: "Your courses (an admin's: every course)",
    authScopes: { user: true },
    resolve: (_root, _args, ctx) => {
      const viewer = ctx.viewer?.user as User;
      return coursesOf(ctx.db, viewer.role === "ADMIN" ? undefined : viewer.id);
    },
  }),
);

builder.queryField("course", (t) =>
  t.field({
    type: CourseRef,
    nullable: true,
    description: "A course you are in (an admin: any), by name",
    authScopes: { user: true },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, { name }, ctx) =>
      (await visibleCourse(ctx.db, viewerOf(ctx), name).catch(() => undefined))?.course ?? null,
  }),
);

const viewerOf = (ctx: Context) => ({ user: ctx.viewer?.user as User });

const CreateCourseInput = builder.inputType("CreateCourseInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "Typed in commands: like a user name" }),
    title: t.string({ required: false }),
    instructors: t.stringList({ required: false, description: "Existing users, enrolled as INSTRUCTOR" }),
    maxMachines: t.int({ required: false }),
    maxMemoryMiB: t.int({ required: false }),
    studentMaxMachines: t.int({ required: false }),
    hostAccountPrefix: t.string({
      required: false,
      description: "Host accounts the course's instructors may give start with this (absent: only admins map them)",
    }),
  }),
});

const CoursePayload = (name: string) =>
  builder
    .objectRef<Course>(name)
    .implement({ fields: (t) => ({ course: t.field({ type: CourseRef, resolve: (c) => c }) }) });

builder.mutationField("createCourse", (t) =>
  t.field({
    type: CoursePayload("CreateCoursePayload"),
    description: "ADMIN: a new course and its first instructors",
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateCourseInput, required: true }) },
    errors: { types: limited(ValidationError), directResult: true, union: { name: "CreateCourseResult" } },
    resolve: (_root, { input }, ctx) => {
      spendMutation(ctx);
      return createCourse(ctx.db, actorOf(ctx), input);
    },
  }),
);

const EnrolmentInput = builder.inputType("EnrolmentInput", {
  fields: (t) => ({
    user: t.string({ required: true, description: "A gaol user name; made (role USER) if missing" }),
    role: t.field({ type: CourseRoleEnum, required: false, description: "STUDENT when absent" }),
    hostUser: t.string({
      required: false,
      description: "The host account their machines run as (only for a user made here, unless you are an admin)",
    }),
  }),
});

const EnrolPayload = builder.objectRef<{ course: Course; enrolled: CourseMember[] }>("EnrolInCoursePayload").implement({
  fields: (t) => ({
    course: t.field({ type: CourseRef, resolve: (p) => p.course }),
    enrolled: t.field({ type: [CourseMemberRef], resolve: (p) => p.enrolled }),
  }),
});

builder.mutationField("enrolInCourse", (t) =>
  t.field({
    type: EnrolPayload,
    description: "The course's INSTRUCTOR (or an admin): adds or re-roles members, making missing users",
    authScopes: { user: true },
    args: { course: t.arg.string({ required: true }), users: t.arg({ type: [EnrolmentInput], required: true }) },
    errors: {
      types: limited(ValidationError, NotFoundError),
      directResult: true,
      union: { name: "EnrolInCourseResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return enrol(ctx.db, actorOf(ctx), viewerOf(ctx), args.course, args.users);
    },
  }),
);

const CourseTokenPayload = builder.objectRef<{ secret: string; user: User }>("CreateCourseTokenPayload").implement({
  fields: (t) => ({
    token: t.string({ description: "Shown once: only its hash is stored", resolve: (p) => p.secret }),
    user: t.field({ type: UserRef, resolve: (p) => p.user }),
  }),
});

builder.mutationField("createCourseToken", (t) =>
  t.field({
    type: CourseTokenPayload,
    description:
      "The course's INSTRUCTOR (a portal acting for the course): a token for a member the course's enrolment made",
    authScopes: { user: true },
    args: {
      course: t.arg.string({ required: true }),
      user: t.arg.string({ required: true }),
      expiresInSeconds: t.arg.int({ required: false }),
    },
    errors: {
      types: limited(ValidationError, NotFoundError),
      directResult: true,
      union: { name: "CreateCourseTokenResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return createCourseToken(ctx.db, actorOf(ctx), viewerOf(ctx), args.course, args.user, args.expiresInSeconds);
    },
  }),
);

builder.mutationField("createCourseTokens", (t) =>
  t.field({
    type: builder
      .objectRef<Array<{ secret: string; user: User }>>("CreateCourseTokensPayload")
      .implement({ fields: (f) => ({ tokens: f.field({ type: [CourseTokenPayload], resolve: (p) => p }) }) }),
    description: "The course's INSTRUCTOR: tokens for many members in one change, all or none (a class list)",
    authScopes: { user: true },
    args: {
      course: t.arg.string({ required: true }),
      users: t.arg.stringList({ required: true }),
      expiresInSeconds: t.arg.int({ required: false }),
    },
    errors: {
      types: limited(ValidationError, NotFoundError),
      directResult: true,
      union: { name: "CreateCourseTokensResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return createCourseTokens(ctx.db, actorOf(ctx), viewerOf(ctx), args.course, args.users, args.expiresInSeconds);
    },
  }),
);

const CreateLabInput = builder.inputType("CreateLabInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "A DNS label: its machines' default name" }),
    image: t.string({ required: false, description: "The starter image; the default image when absent" }),
    imageVersion: t.int({ required: false }),
    memoryMiB: t.int({ required: false }),
    timeLimitSeconds: t.int({ required: true, description: "Each machine's lease from its start" }),
    maxExtensionSeconds: t.int({ required: false, description: "What extendMachine may add in all (default 0)" }),
    warnAtSeconds: t.intList({ required: false, description: "Warnings before the end (default 600 and 120)" }),
    machinesPerStudent: t.int({ required: false, description: "Live machines per student (default 1)" }),
    opensAt: t.field({
      type: "DateTime",
      required: false,
      description: "Schedules the lab: students' machines are booted before, leases run from it",
    }),
    prestartSeconds: t.int({ required: false, description: "How long before opensAt to boot them (default 120)" }),
    checkScript: t.string({
      required: false,
      description: "Run as root in each machine by runLabCheck; exit 0 passes",
    }),
    checkTimeoutSeconds: t.int({ required: false, description: "How long a check may run (default 30)" }),
    idleLimitSeconds: t.int({
      required: false,
      description: "Ends a READY machine the host saw no use of for this long (default: never)",
    }),
  }),
});

builder.mutationField("createLab", (t) =>
  t.field({
    type: builder.objectRef<Lab>("CreateLabPayload").implement({
      fields: (f) => ({ lab: f.field({ type: LabRef, resolve: (l) => l }) }),
    }),
    description: "The course's INSTRUCTOR (or an admin): a lab its members can start machines for",
    authScopes: { user: true },
    args: { course: t.arg.string({ required: true }), input: t.arg({ type: CreateLabInput, required: true }) },
    errors: {
      types: limited(ValidationError, NotFoundError, ImageNotFoundError),
      directResult: true,
      union: { name: "CreateLabResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return createLab(ctx.db, actorOf(ctx), viewerOf(ctx), args.course, args.input);
    },
  }),
);

builder.mutationField("startLab", (t) =>
  t.field({
    type: payload("StartLabPayload"),
    description: "A member's own machine for a lab: its image, memory and lease, within the lab's and course's budgets",
    authScopes: { user: true },
    args: {
      course: t.arg.string({ required: true }),
      lab: t.arg.string({ required: true }),
      name: t.arg.string({ required: false, description: "The machine's name; the lab's when absent" }),
      sshPublicKeys: t.arg.stringList({ required: false }),
    },
    errors: {
      types: [...MUTATION_ERRORS, NotFoundError, LabNotOpenError],
      directResult: true,
      union: { name: "StartLabResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return startLab(ctx.db, actorOf(ctx), viewerOf(ctx), args.course, args.lab, args).then((machine) => ({
        machine,
      }));
    },
  }),
);

builder.mutationField("extendMachine", (t) =>
  t.field({
    type: payload("ExtendMachinePayload"),
    description: "Moves a lab machine's end later, within its lab's maxExtensionSeconds in all",
    authScopes: { user: true },
    args: {
      id: t.arg.globalID({ required: true, for: [MachineRef] }),
      seconds: t.arg.int({ required: true }),
    },
    errors: {
      types: limited(ValidationError, NotFoundError, InvalidStateError, ExtensionRefusedError),
      directResult: true,
      union: { name: "ExtendMachineResult" },
    },
    resolve: (_root, args, ctx) => {
      spendMutation(ctx);
      return extendMachine(ctx.db, actorOf(ctx), args.id.id, args.seconds, (m) => canSeeMachine(ctx, m)).then(
        (machine) => ({ machine }),
      );
    },
  }),
);
