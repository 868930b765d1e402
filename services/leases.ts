import { and, eq, isNotNull, ne } from "drizzle-orm";
import {
  expiringMessage,
  GAOL_ACTOR,
  idleEnd,
  inWords,
  leaseDue,
  machineEvent,
  stateChanged,
  stateOnDestroy,
} from "../core/index.js";
import type { Db } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { appendEvent } from "../db/queries/events.js";
import { lockMachine, type Machine, markDestroyRequested } from "../db/queries/machines.js";
import { labs, machines } from "../db/schema.js";
import { extensionLeft } from "./courses.js";

/** Why a lab machine went: the words its owner reads in the state's reason. */
export const LEASE_ENDED = "the lab's time is up (your home directory is kept)";

/** Why an idle lab machine went, with the limit said in words. */
export const idleEnded = (idleLimitSeconds: number) =>
  `idle for ${inWords(idleLimitSeconds)}: the host saw no use of it (your home directory is kept)`;

/** What one pass did, for the log and the tests. */
export interface LeasePass {
  warned: string[];
  ended: string[];
  idled: string[];
}

/** Since when a READY machine counts as unused: its last activity, or its READY when later (a reboot). */
function unusedSince(m: { readyAt: Date | null; lastActivityAt: Date | null }): Date | undefined {
  const times = [m.readyAt, m.lastActivityAt].filter((t): t is Date => t !== null).map((t) => t.getTime());
  return times.length ? new Date(Math.max(...times)) : undefined;
}

function idleNow(
  m: { state: string; readyAt: Date | null; lastActivityAt: Date | null },
  idleLimitSeconds: number | null,
  now: Date,
): boolean {
  const since = unusedSince(m);
  return (
    m.state === "READY" && idleLimitSeconds !== null && since !== undefined && idleEnd(since, idleLimitSeconds) <= now
  );
}

/**
 * One idempotent pass over live lab machines: sends each warning whose time has come, once, and
 * destroys each machine whose end has come (as gaol, audited). Every change is made on the locked
 * row after checking it again, so api replicas running passes side by side send nothing twice.
 */
export async function keepLeases(db: Db, now = new Date()): Promise<LeasePass> {
  const candidates = await db
    .select({
      id: machines.id,
      expiresAt: machines.expiresAt,
      sent: machines.leaseWarningsSent,
      warnAt: labs.warnAtSeconds,
      state: machines.state,
      readyAt: machines.readyAt,
      lastActivityAt: machines.lastActivityAt,
      idleLimit: labs.idleLimitSeconds,
    })
    .from(machines)
    .innerJoin(labs, eq(labs.id, machines.labId))
    .where(and(isNotNull(machines.expiresAt), ne(machines.state, "DESTROYED"), ne(machines.desiredState, "DESTROYED")));
  const pass: LeasePass = { warned: [], ended: [], idled: [] };
  for (const c of candidates) {
    if (!c.expiresAt) continue;
    const due = leaseDue({ expiresAt: c.expiresAt, warnAtSeconds: c.warnAt, sent: c.sent }, now);
    if (!due.expired && idleNow(c, c.idleLimit, now)) {
      const idle = c.idleLimit as number;
      const ended = await endMachine(db, c.id, idleEnded(idle), (m) => idleNow(m, idle, now));
      if (ended) pass.idled.push(c.id);
      continue;
    }
    if (due.sentAfter === c.sent && !due.expired) continue;
    await db.transaction(async (tx) => {
      const machine = await lockMachine(tx, c.id);
      if (!machine?.expiresAt || machine.desiredState === "DESTROYED" || machine.state === "DESTROYED") return;
      const [lab] = await tx
        .select()
        .from(labs)
        .where(eq(labs.id, machine.labId as string));
      if (!lab) return;
      const fresh = leaseDue(
        { expiresAt: machine.expiresAt, warnAtSeconds: lab.warnAtSeconds, sent: machine.leaseWarningsSent },
        now,
      );
      const secondsLeft = Math.max(0, Math.round((machine.expiresAt.getTime() - now.getTime()) / 1000));
      const extensionLeftSeconds = extensionLeft(machine, lab);
      if (!fresh.expired && fresh.warnings.length > 0) {
        await appendEvent(
          tx,
          machine.id,
          machineEvent("MachineExpiring", {
            endsAt: machine.expiresAt.toISOString(),
            secondsLeft,
            extensionLeftSeconds,
            message: expiringMessage(secondsLeft, extensionLeftSeconds),
          }),
        );
        pass.warned.push(machine.id);
      }
      if (fresh.sentAfter !== machine.leaseWarningsSent)
        await tx.update(machines).set({ leaseWarningsSent: fresh.sentAfter }).where(eq(machines.id, machine.id));
    });
    if (due.expired) {
      const ended = await endMachine(db, c.id, LEASE_ENDED, (m) => (m.expiresAt?.getTime() ?? 0) <= now.getTime());
      if (ended) pass.ended.push(c.id);
    }
  }
  return pass;
}

/**
 * Destroys a lab machine as gaol, with the reason its owner reads, if `stillDue` holds of the
 * locked row (an extension or a login may have come since the pass looked); false otherwise.
 */
async function endMachine(db: Db, id: string, reason: string, stillDue: (m: Machine) => boolean): Promise<boolean> {
  return audited(db, { actor: GAOL_ACTOR, action: "MACHINE_DESTROY", target: { id } }, async (tx, target) => {
    const machine = await lockMachine(tx, id);
    if (!machine || machine.desiredState === "DESTROYED" || machine.state === "DESTROYED") return false;
    if (!stillDue(machine)) return false;
    target.name = machine.name;
    await markDestroyRequested(tx, id);
    await appendEvent(tx, id, stateChanged(stateOnDestroy(machine.state), reason));
    return true;
  });
}
