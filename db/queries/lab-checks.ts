import { and, asc, desc, eq } from "drizzle-orm";
import type { LabCheckState } from "../../core/index.js";
import type { Queryable, Tx } from "../client.js";
import { labCheckResults, labChecks, machines, users } from "../schema.js";

export type LabCheck = typeof labChecks.$inferSelect;
export type LabCheckResult = typeof labCheckResults.$inferSelect;

export async function insertLabCheck(tx: Tx, values: typeof labChecks.$inferInsert): Promise<LabCheck> {
  const [check] = await tx.insert(labChecks).values(values).returning();
  return check as LabCheck;
}

export async function insertLabCheckResults(tx: Tx, rows: Array<typeof labCheckResults.$inferInsert>) {
  if (rows.length > 0) await tx.insert(labCheckResults).values(rows);
}

export async function labCheckById(db: Queryable, id: string): Promise<LabCheck | undefined> {
  const [row] = await db.select().from(labChecks).where(eq(labChecks.id, id));
  return row;
}

/** A lab's runs, newest first. */
export async function labChecksOf(db: Queryable, labId: string, limit: number): Promise<LabCheck[]> {
  return db.select().from(labChecks).where(eq(labChecks.labId, labId)).orderBy(desc(labChecks.createdAt)).limit(limit);
}

/** A run's results, each with its machine's name and owner, by owner then machine name. */
export async function labCheckResultsOf(db: Queryable, checkId: string) {
  return db
    .select({ result: labCheckResults, machineName: machines.name, ownerName: users.name })
    .from(labCheckResults)
    .innerJoin(machines, eq(machines.id, labCheckResults.machineId))
    .innerJoin(users, eq(users.id, machines.ownerId))
    .where(eq(labCheckResults.checkId, checkId))
    .orderBy(asc(users.name), asc(machines.name));
}

/** The oldest run still waiting for this machine's host, with its script. */
export async function pendingLabCheckOf(db: Queryable, machineId: string) {
  const [row] = await db
    .select({ id: labChecks.id, script: labChecks.script, timeoutSeconds: labChecks.timeoutSeconds })
    .from(labCheckResults)
    .innerJoin(labChecks, eq(labChecks.id, labCheckResults.checkId))
    .where(and(eq(labCheckResults.machineId, machineId), eq(labCheckResults.state, "PENDING")))
    .orderBy(asc(labChecks.createdAt))
    .limit(1);
  return row;
}

/** Records a result once: false when it was no longer PENDING (a host reporting twice). */
export async function finishLabCheckResult(
  tx: Tx,
  checkId: string,
  machineId: string,
  result: { state: LabCheckState; exitCode: number | null; output: string },
): Promise<boolean> {
  const done = await tx
    .update(labCheckResults)
    .set({ ...result, finishedAt: new Date() })
    .where(
      and(
        eq(labCheckResults.checkId, checkId),
        eq(labCheckResults.machineId, machineId),
        eq(labCheckResults.state, "PENDING"),
      ),
    )
    .returning({ machineId: labCheckResults.machineId });
  return done.length > 0;
}
