import { and, eq, isNotNull, ne } from "drizzle-orm";
import { expiringMessage, GAOL_ACTOR, leaseDue, machineEvent, stateChanged, stateOnDestroy } from "../core/index.js";
import type { Db } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { appendEvent } from "../db/queries/events.js";
import { lockMachine, markDestroyRequested } from "../db/queries/machines.js";
import { labs, machines } from "../db/schema.js";

/** Why a lab machine went: the words its owner reads in the state's reason. */
export const LEASE_ENDED = "the lab's time is up (your home directory is kept)";

/** What one pass did, for the log and the tests. */
export interface LeasePass {
  warned: string[];
  ended: string[];
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
    })
    .from(machines)
    .innerJoin(labs, eq(labs.id, machines.labId))
    .where(and(isNotNull(machines.expiresAt), ne(machines.state, "DESTROYED"), ne(machines.desiredState, "DESTROYED")));
  const pass: LeasePass = { warned: [], ended: [] };
  for (const c of candidates) {
    if (!c.expiresAt) continue;
    const due = leaseDue({ expiresAt: c.expiresAt, warnAtSeconds: c.warnAt, sent: c.sent }, now);
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
      const extensionLeftSeconds = Math.max(0, lab.maxExtensionSeconds - machine.extendedSeconds);
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
      const ended = await endLease(db, c.id, now);
      if (ended) pass.ended.push(c.id);
    }
  }
  return pass;
}

/** Destroys a machine whose lease ended, as gaol; false when someone got there first. */
async function endLease(db: Db, id: string, now: Date): Promise<boolean> {
  return audited(db, { actor: GAOL_ACTOR, action: "MACHINE_DESTROY", target: { id } }, async (tx, target) => {
    const machine = await lockMachine(tx, id);
    if (!machine?.expiresAt || machine.desiredState === "DESTROYED" || machine.state === "DESTROYED") return false;
    if (machine.expiresAt.getTime() > now.getTime()) return false;
    target.name = machine.name;
    await markDestroyRequested(tx, id);
    await appendEvent(tx, id, stateChanged(stateOnDestroy(machine.state), LEASE_ENDED));
    return true;
  });
}
