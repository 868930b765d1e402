import { and, asc, count, eq, inArray, ne, notExists, sum } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { CourseRole } from "../../core/index.js";
import type { Queryable, Tx } from "../client.js";
import { courseMembers, courses, labs, machines, users } from "../schema.js";

export type Course = typeof courses.$inferSelect;
export type Lab = typeof labs.$inferSelect;
export type CourseMember = { user: typeof users.$inferSelect; role: CourseRole };

const live = ne(machines.state, "DESTROYED");

export async function insertCourse(tx: Tx, values: typeof courses.$inferInsert): Promise<Course | undefined> {
  const [course] = await tx.insert(courses).values(values).onConflictDoNothing().returning();
  return course;
}

export async function courseByName(db: Queryable, name: string): Promise<Course | undefined> {
  const [row] = await db.select().from(courses).where(eq(courses.name, name));
  return row;
}

export async function courseById(db: Queryable, id: string): Promise<Course | undefined> {
  const [row] = await db.select().from(courses).where(eq(courses.id, id));
  return row;
}

/** Locks the course's row: its lab machines are started one at a time, so its budgets hold under races. */
export async function lockCourse(tx: Tx, id: string): Promise<void> {
  await tx.select({ id: courses.id }).from(courses).where(eq(courses.id, id)).for("update");
}

/** The user's role in the course, if a member. */
export async function memberRole(db: Queryable, courseId: string, userId: string): Promise<CourseRole | undefined> {
  const [row] = await db
    .select({ role: courseMembers.role })
    .from(courseMembers)
    .where(and(eq(courseMembers.courseId, courseId), eq(courseMembers.userId, userId)));
  return row?.role;
}

/** The courses where the user is staff (INSTRUCTOR or TA): whose machines they may see. */
export async function staffCourseIds(db: Queryable, userId: string): Promise<string[]> {
  const rows = await db
    .select({ courseId: courseMembers.courseId })
    .from(courseMembers)
    .where(and(eq(courseMembers.userId, userId), inArray(courseMembers.role, ["INSTRUCTOR", "TA"])));
  return rows.map((r) => r.courseId);
}

/** Adds or re-roles a member. */
export async function upsertMember(tx: Tx, courseId: string, userId: string, role: CourseRole): Promise<void> {
  await tx
    .insert(courseMembers)
    .values({ courseId, userId, role })
    .onConflictDoUpdate({ target: [courseMembers.courseId, courseMembers.userId], set: { role } });
}

export async function membersOf(db: Queryable, courseId: string): Promise<CourseMember[]> {
  return db
    .select({ user: users, role: courseMembers.role })
    .from(courseMembers)
    .innerJoin(users, eq(users.id, courseMembers.userId))
    .where(eq(courseMembers.courseId, courseId))
    .orderBy(asc(courseMembers.role), asc(users.name));
}

/** Every course (an admin's view), or those the user is a member of. */
export async function coursesOf(db: Queryable, userId?: string): Promise<Course[]> {
  if (userId === undefined) return db.select().from(courses).orderBy(asc(courses.name));
  return db
    .select({ course: courses })
    .from(courseMembers)
    .innerJoin(courses, eq(courses.id, courseMembers.courseId))
    .where(eq(courseMembers.userId, userId))
    .orderBy(asc(courses.name))
    .then((rows) => rows.map((r) => r.course));
}

export async function insertLab(tx: Tx, values: typeof labs.$inferInsert): Promise<Lab | undefined> {
  const [lab] = await tx.insert(labs).values(values).onConflictDoNothing().returning();
  return lab;
}

export async function labNamed(db: Queryable, courseId: string, name: string): Promise<Lab | undefined> {
  const [row] = await db
    .select()
    .from(labs)
    .where(and(eq(labs.courseId, courseId), eq(labs.name, name)));
  return row;
}

/** A lab's live machines (not DESTROYED, nor asked to be), oldest first, at most limit. */
export async function liveLabMachines(db: Queryable, labId: string, limit: number) {
  return db
    .select()
    .from(machines)
    .where(and(eq(machines.labId, labId), live, ne(machines.desiredState, "DESTROYED")))
    .orderBy(asc(machines.createdAt))
    .limit(limit);
}

/** The owner's live machine of that name for the lab, if there is one. */
export async function liveLabMachine(db: Queryable, labId: string, ownerId: string, name: string) {
  const [row] = await db
    .select()
    .from(machines)
    .where(
      and(
        eq(machines.labId, labId),
        eq(machines.ownerId, ownerId),
        eq(machines.name, name),
        live,
        ne(machines.desiredState, "DESTROYED"),
      ),
    );
  return row;
}

export async function labById(db: Queryable, id: string): Promise<Lab | undefined> {
  const [row] = await db.select().from(labs).where(eq(labs.id, id));
  return row;
}

export async function labsOf(db: Queryable, courseId: string): Promise<Lab[]> {
  return db.select().from(labs).where(eq(labs.courseId, courseId)).orderBy(asc(labs.name));
}

/** Live machines and their memory: the course's, one student's in it, and one student's of one lab. */
export async function courseUsage(tx: Tx, courseId: string, ownerId: string, labId: string) {
  const of = async (...filters: Parameters<typeof and>) => {
    const [row] = await tx
      .select({ machines: count(), memory: sum(machines.memoryMiB) })
      .from(machines)
      .where(and(live, ...filters));
    return { machines: row?.machines ?? 0, memoryMiB: Number(row?.memory ?? 0) };
  };
  return {
    course: await of(eq(machines.courseId, courseId)),
    student: await of(eq(machines.courseId, courseId), eq(machines.ownerId, ownerId)),
    lab: await of(eq(machines.labId, labId), eq(machines.ownerId, ownerId)),
  };
}

/** How many of the user's courses the viewer does not instruct. */
export async function coursesNotInstructedBy(db: Queryable, userId: string, viewerId: string): Promise<number> {
  const viewer = alias(courseMembers, "viewer");
  const instructs = db
    .select({ one: viewer.userId })
    .from(viewer)
    .where(
      and(eq(viewer.courseId, courseMembers.courseId), eq(viewer.userId, viewerId), eq(viewer.role, "INSTRUCTOR")),
    );
  const [row] = await db
    .select({ n: count() })
    .from(courseMembers)
    .where(and(eq(courseMembers.userId, userId), notExists(instructs)));
  return row?.n ?? 0;
}
