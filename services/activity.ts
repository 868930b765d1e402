import { and, eq, isNull, lt, or } from "drizzle-orm";
import type { ActivityKind } from "../core/index.js";
import type { Db } from "../db/client.js";
import { machines } from "../db/schema.js";

/**
 * A host's word that it saw its machines used (CPU or traffic past its own probes): each one's
 * last activity moves forward, never back, and never past now; only the machine's own host may
 * say. Returns how many moved.
 */
export async function recordActivity(
  db: Db,
  hostId: string,
  seen: Array<{ machineId: string; at: Date; kind: ActivityKind }>,
): Promise<number> {
  let moved = 0;
  for (const { machineId, at, kind } of seen) {
    const when = new Date(Math.min(at.getTime(), Date.now()));
    const updated = await db
      .update(machines)
      .set({ lastActivityAt: when, lastActivityKind: kind })
      .where(
        and(
          eq(machines.id, machineId),
          eq(machines.hostId, hostId),
          or(isNull(machines.lastActivityAt), lt(machines.lastActivityAt, when)),
        ),
      )
      .returning({ id: machines.id });
    moved += updated.length;
  }
  return moved;
}
