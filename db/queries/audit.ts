import { and, desc, eq, lt } from "drizzle-orm";
import { type Actor, AUDIT_OK, type AuditAction, type AuditTarget, auditResult } from "../../core/index.js";
import type { Db, Queryable, Tx } from "../client.js";
import { auditLog } from "../schema.js";

export type AuditEntry = typeof auditLog.$inferSelect;

/** A refused request's target is whatever was sent: kept short. */
const clip = (text: string | null | undefined) => (text == null ? null : text.slice(0, 200));

async function appendAudit(db: Queryable, actor: Actor, action: AuditAction, target: AuditTarget, result: string) {
  await db.insert(auditLog).values({
    userId: actor.userId,
    userName: actor.userName,
    tokenId: actor.tokenId ?? null,
    action,
    targetId: clip(target.id),
    targetName: clip(target.name),
    result,
  });
}

/**
 * Runs an action in one transaction with its audit entry, so the entry and the change commit
 * together. A failed action is rolled back and then recorded with its error's name. The action
 * names its target in `target` as it learns it (a new machine's id, a found machine's name).
 */
export async function audited<T>(
  db: Db,
  entry: { actor: Actor; action: AuditAction; target: AuditTarget },
  run: (tx: Tx, target: AuditTarget) => Promise<T>,
): Promise<T> {
  const { actor, action } = entry;
  const target = { ...entry.target };
  try {
    return await db.transaction(async (tx) => {
      const result = await run(tx, target);
      await appendAudit(tx, actor, action, target, AUDIT_OK);
      return result;
    });
  } catch (error) {
    // The action's own error matters more to the caller than a failure to record it.
    await appendAudit(db, actor, action, target, auditResult(error)).catch(() => undefined);
    throw error;
  }
}

/** Entries newest first, older than the entry `beforeId` when given, by one user's name or of one action. */
export async function auditPage(
  db: Queryable,
  filter: { userName?: string; action?: AuditAction; beforeId?: number },
  limit: number,
): Promise<AuditEntry[]> {
  return db
    .select()
    .from(auditLog)
    .where(
      and(
        filter.userName === undefined ? undefined : eq(auditLog.userName, filter.userName),
        filter.action === undefined ? undefined : eq(auditLog.action, filter.action),
        filter.beforeId === undefined ? undefined : lt(auditLog.id, filter.beforeId),
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(limit);
}
