import { and, eq, isNotNull, isNull } from "drizzle-orm";
import { GAOL_ACTOR, NameTakenError, prestartDue, QuotaExceededError } from "../core/index.js";
import type { Db } from "../db/client.js";
import { courseById, membersOf } from "../db/queries/courses.js";
import { labs } from "../db/schema.js";
import { startLabMachine } from "./courses.js";

/** What one pass booted: per scheduled lab, the students whose machines it started, and who it could not. */
export interface PrestartPass {
  lab: string;
  started: string[];
  failed: Array<{ user: string; reason: string }>;
}

/**
 * Boots the enrolled students' machines for each scheduled lab whose time to do so has come, so
 * that a class arriving at once finds them READY. A lab is claimed by setting prestartedAt in one
 * statement, so one replica boots it; a student who has their machine already is skipped (the
 * lab's per-student budget says so), and one this pass could not boot can still start their own.
 */
export async function prestartLabs(db: Db, now = new Date()): Promise<PrestartPass[]> {
  const scheduled = await db
    .select()
    .from(labs)
    .where(and(isNotNull(labs.opensAt), isNull(labs.prestartedAt)));
  const passes: PrestartPass[] = [];
  for (const candidate of scheduled) {
    if (!prestartDue(candidate, now)) continue;
    const [lab] = await db
      .update(labs)
      .set({ prestartedAt: now })
      .where(and(eq(labs.id, candidate.id), isNull(labs.prestartedAt)))
      .returning();
    const course = lab && (await courseById(db, lab.courseId));
    if (!lab || !course) continue;
    const pass: PrestartPass = { lab: `${course.name}/${lab.name}`, started: [], failed: [] };
    const students = (await membersOf(db, course.id)).filter((m) => m.role === "STUDENT" && m.user.hostUser);
    // One at a time: each is a short transaction, and the agents boot them side by side anyway.
    for (const { user } of students) {
      try {
        await startLabMachine(db, GAOL_ACTOR, user, course, lab, { name: lab.name });
        pass.started.push(user.name);
      } catch (error) {
        if (error instanceof QuotaExceededError || error instanceof NameTakenError) continue;
        pass.failed.push({ user: user.name, reason: (error as Error).message });
      }
    }
    passes.push(pass);
  }
  return passes;
}
