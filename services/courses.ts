import { eq } from "drizzle-orm";
import {
  type Actor,
  type CourseInput,
  type CourseRole,
  type EnrolmentInput,
  ExtensionRefusedError,
  ImageNotFoundError,
  InvalidStateError,
  type LabInput,
  LabNotOpenError,
  labWindow,
  machineEvent,
  NotFoundError,
  ValidationError,
  validateCourse,
  validateEnrolments,
  validateExtension,
  validateLab,
  warningsPassed,
} from "../core/index.js";
import type { Db, Tx } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import {
  type Course,
  courseByName,
  coursesNotInstructedBy,
  insertCourse,
  insertLab,
  type Lab,
  labById,
  labNamed,
  liveLabMachine,
  memberRole,
  upsertMember,
} from "../db/queries/courses.js";
import { appendEvent, notifyMachineChanged } from "../db/queries/events.js";
import { imageById, imageByName } from "../db/queries/images.js";
import { lockMachine, type Machine } from "../db/queries/machines.js";
import { createToken } from "../db/queries/tokens.js";
import { type User, userByName } from "../db/queries/users.js";
import { machines, users } from "../db/schema.js";
import { addSshKeys, type MayAct, provisionMachine } from "./machines.js";

/** The viewer as the course rules see them: an admin runs any course, everyone else by their role in it. */
export interface CourseViewer {
  user: User;
}

/** The user's part in a course: an admin counts as its instructor; undefined for a non-member. */
export async function roleOf(db: Db | Tx, user: User, courseId: string): Promise<CourseRole | undefined> {
  return user.role === "ADMIN" ? "INSTRUCTOR" : ((await memberRole(db, courseId, user.id)) as CourseRole | undefined);
}

/** The course if the viewer may see it (an admin, or a member); otherwise NotFoundError: names are not secrets. */
export async function visibleCourse(db: Db | Tx, viewer: CourseViewer, name: string) {
  const course = await courseByName(db, name);
  if (!course) throw new NotFoundError("course");
  const role = await roleOf(db, viewer.user, course.id);
  if (!role) throw new NotFoundError("course");
  return { course, role: role as CourseRole };
}

/** The course if the viewer is its instructor (or an admin); a member who is not gets told, others NotFoundError. */
async function instructedCourse(tx: Tx, viewer: CourseViewer, name: string): Promise<Course> {
  const { course, role } = await visibleCourse(tx, viewer, name);
  if (role !== "INSTRUCTOR") throw new NotFoundError("course (as its instructor)");
  return course;
}

/** ADMIN: a new course, its first instructors enrolled (each must be an existing user). Audited. */
export async function createCourse(db: Db, actor: Actor, input: CourseInput & { instructors?: string[] | null }) {
  return audited(db, { actor, action: "COURSE_CREATE", target: { name: input.name } }, async (tx, target) => {
    const valid = validateCourse(input);
    const instructors: User[] = [];
    for (const [i, name] of (input.instructors ?? []).entries()) {
      const user = await userByName(tx, name);
      if (!user || user.role === "AGENT")
        throw new ValidationError([{ field: `instructors.${i}`, message: `no user named ${name}` }]);
      instructors.push(user);
    }
    const course = await insertCourse(tx, {
      name: valid.name,
      title: valid.title ?? null,
      maxMachines: valid.maxMachines ?? null,
      maxMemoryMiB: valid.maxMemoryMiB ?? null,
      studentMaxMachines: valid.studentMaxMachines ?? null,
      hostAccountPrefix: valid.hostAccountPrefix ?? null,
    });
    if (!course) throw new ValidationError([{ field: "name", message: "a course of that name exists" }]);
    target.id = course.id;
    for (const user of instructors) await upsertMember(tx, course.id, user.id, "INSTRUCTOR");
    return course;
  });
}

/**
 * An admin or the course's instructor enrols users, making the missing ones (role USER) with
 * their host account. A host account is set only on a user made here or by an admin: an
 * instructor never moves an existing user's machines to another account, nor takes one that
 * another user runs as (that would mount that user's home). Audited.
 */
export async function enrol(db: Db, actor: Actor, viewer: CourseViewer, courseName: string, input: EnrolmentInput[]) {
  return audited(db, { actor, action: "COURSE_ENROL", target: { name: courseName } }, async (tx, target) => {
    const enrolments = validateEnrolments(input);
    const course = await instructedCourse(tx, viewer, courseName);
    target.id = course.id;
    const admin = viewer.user.role === "ADMIN";
    const enrolled: Array<{ user: User; role: CourseRole }> = [];
    for (const [i, e] of enrolments.entries()) {
      const field = (name: string) => `users.${i}.${name}`;
      let user = await userByName(tx, e.user);
      // What host accounts exist, and whose, is the host's business: one answer for every refusal.
      const refuse = () => {
        throw new ValidationError([{ field: field("hostUser"), message: cannotMap(course, admin) }]);
      };
      if (e.hostUser) {
        if (!admin && (!course.hostAccountPrefix || !e.hostUser.startsWith(course.hostAccountPrefix))) refuse();
        const [holder] = await tx.select().from(users).where(eq(users.hostUser, e.hostUser));
        if (holder && holder.name !== e.user) refuse();
      }
      if (user) {
        if (user.role === "AGENT" || (user.role === "ADMIN" && !admin))
          throw new ValidationError([{ field: field("user"), message: "cannot be enrolled by an instructor" }]);
        if (e.hostUser && e.hostUser !== user.hostUser) {
          // An instructor maps only a user this course made, and only once.
          if (!admin && (user.hostUser !== null || user.enrolledVia !== course.id)) refuse();
          [user] = (await tx.update(users).set({ hostUser: e.hostUser }).where(eq(users.id, user.id)).returning()) as [
            User,
          ];
        }
      } else {
        [user] = (await tx
          .insert(users)
          .values({ name: e.user, role: "USER", hostUser: e.hostUser ?? null, enrolledVia: course.id })
          .returning()) as [User];
      }
      await upsertMember(tx, course.id, user.id, e.role);
      enrolled.push({ user, role: e.role });
    }
    return { course, enrolled };
  });
}

/** Why an instructor may not give that host account, without saying whose or whether it exists. */
function cannotMap(course: Course, admin: boolean): string {
  if (admin) return "is another user's host account";
  return course.hostAccountPrefix
    ? `cannot be given here: an instructor gives a host account starting with ${course.hostAccountPrefix} to a user this course made, once; an admin does the rest`
    : "cannot be given by an instructor of this course: an admin maps host accounts, or gives the course a hostAccountPrefix";
}

/**
 * A token for a member, made by the course's instructor (a portal acting for the course) or
 * an admin. An instructor may mint only for users their course enrolment made, and who are in
 * no course they do not instruct: a token is the user's whole identity, home directory included.
 */
export async function createCourseToken(
  db: Db,
  actor: Actor,
  viewer: CourseViewer,
  courseName: string,
  userName: string,
  expiresInSeconds?: number | null,
) {
  return audited(db, { actor, action: "COURSE_TOKEN_CREATE", target: { name: userName } }, async (tx, target) => {
    const course = await instructedCourse(tx, viewer, courseName);
    const created = await mintFor(tx, viewer, course, userName, "user", expiresInSeconds);
    target.id = created.token.id;
    return created;
  });
}

/**
 * Tokens for many members at once (a portal's class list), all or none: one audited
 * transaction, so a refused member leaves no token made and shown to nobody.
 */
export async function createCourseTokens(
  db: Db,
  actor: Actor,
  viewer: CourseViewer,
  courseName: string,
  userNames: string[],
  expiresInSeconds?: number | null,
) {
  return audited(db, { actor, action: "COURSE_TOKEN_CREATE", target: { name: courseName } }, async (tx, target) => {
    if (userNames.length === 0 || userNames.length > 1000)
      throw new ValidationError([{ field: "users", message: "takes 1 to 1000 users" }]);
    const course = await instructedCourse(tx, viewer, courseName);
    target.id = course.id;
    const made = [];
    for (const [i, name] of userNames.entries())
      made.push(await mintFor(tx, viewer, course, name, `users.${i}`, expiresInSeconds));
    return made;
  });
}

/** A token for a member, if this viewer may make one (see createCourseToken). */
async function mintFor(
  tx: Tx,
  viewer: CourseViewer,
  course: Course,
  userName: string,
  field: string,
  expiresInSeconds?: number | null,
) {
  const user = await userByName(tx, userName);
  const role = user ? await memberRole(tx, course.id, user.id) : undefined;
  if (!user || !role) throw new NotFoundError(`member ${userName} of ${course.name}`);
  if (viewer.user.role !== "ADMIN") {
    const others = await coursesNotInstructedBy(tx, user.id, viewer.user.id);
    if (user.role !== "USER" || user.enrolledVia === null || others > 0)
      throw new ValidationError([
        { field, message: `${userName} was not enrolled by your course alone: an admin makes their tokens` },
      ]);
  }
  return { ...(await createToken(tx, user.id, { expiresInSeconds })), user };
}

/** The course's instructor (or an admin) adds a lab: the starter image, memory, time limit and warnings. Audited. */
export async function createLab(db: Db, actor: Actor, viewer: CourseViewer, courseName: string, input: LabInput) {
  return audited(
    db,
    { actor, action: "LAB_CREATE", target: { name: `${courseName}/${input.name}` } },
    async (tx, target) => {
      const valid = validateLab(input);
      const course = await instructedCourse(tx, viewer, courseName);
      const image = await imageByName(tx, valid.image);
      if (!image) throw new ImageNotFoundError(valid.image);
      const lab = await insertLab(tx, {
        courseId: course.id,
        name: valid.name,
        imageId: image.id,
        imageVersion: valid.imageVersion ?? null,
        memoryMiB: valid.memoryMiB,
        timeLimitSeconds: valid.timeLimitSeconds,
        maxExtensionSeconds: valid.maxExtensionSeconds,
        warnAtSeconds: valid.warnAtSeconds,
        machinesPerStudent: valid.machinesPerStudent,
        opensAt: valid.opensAt,
        prestartSeconds: valid.prestartSeconds,
        checkScript: valid.checkScript,
        checkTimeoutSeconds: valid.checkTimeoutSeconds,
        idleLimitSeconds: valid.idleLimitSeconds,
      });
      if (!lab) throw new ValidationError([{ field: "name", message: "the course has a lab of that name" }]);
      target.id = lab.id;
      return lab;
    },
  );
}

/**
 * A member starts their machine for a lab: the lab's image and memory, the lab's lease, within
 * the lab's and the course's budgets. The machine is the member's own (their host account, their home).
 */
export async function startLab(
  db: Db,
  actor: Actor,
  viewer: CourseViewer,
  courseName: string,
  labName: string,
  input: { name?: string | null; sshPublicKeys?: string[] | null },
): Promise<Machine> {
  const { course } = await visibleCourse(db, viewer, courseName);
  const lab = await labNamed(db, course.id, labName);
  if (!lab) throw new NotFoundError(`lab ${labName} in ${courseName}`);
  const now = new Date();
  // Once gaol has booted the class's machines, each student may claim theirs, however early.
  if (labWindow(lab, now) === "CLOSED" && lab.opensAt && !lab.prestartedAt)
    throw new LabNotOpenError(lab.opensAt, new Date(lab.opensAt.getTime() - lab.prestartSeconds * 1000));
  const name = input.name ?? lab.name;
  // Idempotent by name: the machine gaol booted for a scheduled lab, or a second click, is the same machine.
  const existing = await liveLabMachine(db, lab.id, viewer.user.id, name);
  if (existing) {
    const keys = input.sshPublicKeys ?? [];
    if (keys.every((k) => existing.sshPublicKeys.includes(k))) return existing;
    return addSshKeys(db, actor, existing.id, keys, (m) => m.ownerId === viewer.user.id);
  }
  return startLabMachine(db, actor, viewer.user, course, lab, { name, sshPublicKeys: input.sshPublicKeys });
}

/** Provisions a lab's machine for owner: the lab's image, memory and lease, within the budgets. */
export async function startLabMachine(
  db: Db,
  actor: Actor,
  owner: User,
  course: Course,
  lab: Lab,
  input: { name: string; sshPublicKeys?: string[] | null },
): Promise<Machine> {
  const image = await imageById(db, lab.imageId);
  return provisionMachine(
    db,
    actor,
    owner,
    {
      name: input.name,
      image: image?.name,
      imageVersion: lab.imageVersion,
      memoryMiB: lab.memoryMiB,
      sshPublicKeys: input.sshPublicKeys,
    },
    { lab, course },
  );
}

/** What is left of a lab machine's extension. */
export function extensionLeft(
  machine: Pick<Machine, "extendedSeconds">,
  lab: Pick<Lab, "maxExtensionSeconds">,
): number {
  return Math.max(0, lab.maxExtensionSeconds - machine.extendedSeconds);
}

/**
 * Moves a lab machine's end later, within what its lab allows in all; the warnings still ahead
 * of the new end will be sent again. Audited; a MachineLeaseExtended event says who and how much.
 */
export async function extendMachine(db: Db, actor: Actor, id: string, seconds: number, mayAct: MayAct) {
  return audited(db, { actor, action: "MACHINE_EXTEND", target: { id } }, async (tx, target) => {
    const by = validateExtension(seconds);
    const machine = await lockMachine(tx, id);
    if (!machine || !mayAct(machine)) throw new NotFoundError("machine");
    target.name = machine.name;
    if (machine.state === "DESTROYED" || machine.desiredState === "DESTROYED")
      throw new InvalidStateError(machine.state, "extend");
    const lab = machine.labId ? await labById(tx, machine.labId) : undefined;
    if (!lab || !machine.expiresAt) throw new InvalidStateError("not a lab machine", "extend");
    const left = extensionLeft(machine, lab);
    if (by > left) throw new ExtensionRefusedError(lab.maxExtensionSeconds, left);
    const expiresAt = new Date(machine.expiresAt.getTime() + by * 1000);
    const [updated] = await tx
      .update(machines)
      .set({
        expiresAt,
        extendedSeconds: machine.extendedSeconds + by,
        leaseWarningsSent: warningsPassed(lab.warnAtSeconds, (expiresAt.getTime() - Date.now()) / 1000),
      })
      .where(eq(machines.id, id))
      .returning();
    await appendEvent(
      tx,
      id,
      machineEvent("MachineLeaseExtended", { endsAt: expiresAt.toISOString(), bySeconds: by, by: actor.userName }),
    );
    await notifyMachineChanged(tx, id);
    return updated as Machine;
  });
}
