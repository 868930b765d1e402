import {
  type Actor,
  type AuditTarget,
  canReboot,
  checkCourseBudget,
  checkQuota,
  choosePlacement,
  generateName,
  ImageNotFoundError,
  InvalidStateError,
  leaseEnd,
  NameTakenError,
  NoCapacityError,
  NoHostAccountError,
  NotFoundError,
  type ProvisionInput,
  stateChanged,
  stateOnDestroy,
  validateProvision,
  validateSshKeys,
} from "../core/index.js";
import type { Db, Tx } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { type Course, courseUsage, type Lab, lockCourse } from "../db/queries/courses.js";
import { appendEvent } from "../db/queries/events.js";
import { defaultVersion, hostsHolding, imageByName } from "../db/queries/images.js";
import {
  insertMachine,
  liveMachineNamed,
  lockLiveHostLoads,
  lockMachine,
  lockUser,
  type Machine,
  markDestroyRequested,
  ownerUsage,
  requestReboot,
  requestReset,
  setScreenShared,
  setSshPublicKeys,
} from "../db/queries/machines.js";
import type { User } from "../db/queries/users.js";

/** A lab machine's lab and course: its budgets, and its lease from the lab's time limit. */
export interface LabStart {
  lab: Lab;
  course: Course;
}

/**
 * Records a new machine for owner: validated, within quotas, on a live host with room, with a
 * PENDING event. The owner's row lock serializes their provisions (quotas), a lab's course row
 * lock its budgets, and host row locks placement (the last slot goes to one machine only).
 * Audited in the same transaction.
 */
export async function provisionMachine(
  db: Db,
  actor: Actor,
  owner: User,
  input: ProvisionInput,
  lab?: LabStart,
): Promise<Machine> {
  return audited(db, { actor, action: "MACHINE_PROVISION", target: { name: input.name } }, async (tx, target) => {
    const valid = validateProvision(input);
    await lockUser(tx, owner.id);
    if (!owner.hostUser) throw new NoHostAccountError(owner.name);
    if (lab) {
      await lockCourse(tx, lab.course.id);
      checkCourseBudget(
        lab.course,
        lab.lab,
        await courseUsage(tx, lab.course.id, owner.id, lab.lab.id),
        valid.memoryMiB,
      );
    }
    const image = await imageByName(tx, valid.image);
    if (!image) throw new ImageNotFoundError(valid.image);
    checkQuota(owner, await ownerUsage(tx, owner.id), valid.memoryMiB);
    const name = valid.name ?? generateName();
    if (await liveMachineNamed(tx, owner.id, name)) throw new NameTakenError(name);

    const version = valid.imageVersion ?? (await defaultVersion(tx, image.id));
    const holders = version === undefined ? new Set<string>() : await hostsHolding(tx, image.id, version);
    if (valid.imageVersion !== undefined && holders.size === 0)
      throw new ImageNotFoundError(`${valid.image}@${version}`, "no host holds that version");
    const loads = await lockLiveHostLoads(tx);
    // A host that holds the version first; without one, any host with room boots its own newest.
    let hostId: string;
    try {
      hostId = choosePlacement(loads, valid.memoryMiB, holders);
    } catch (error) {
      if (valid.imageVersion !== undefined || !(error instanceof NoCapacityError)) throw error;
      hostId = choosePlacement(loads, valid.memoryMiB);
    }
    const machine = await insertMachine(tx, {
      name,
      ownerId: owner.id,
      hostId,
      imageId: image.id,
      imageVersion: version !== undefined && holders.has(hostId) ? version : null,
      memoryMiB: valid.memoryMiB,
      limits: valid.limits,
      sshPublicKeys: valid.sshPublicKeys,
      ...(lab && {
        labId: lab.lab.id,
        courseId: lab.course.id,
        expiresAt: leaseEnd(lab.lab, new Date()),
      }),
    });
    Object.assign(target, { id: machine.id, name });
    await appendEvent(tx, machine.id, stateChanged("PENDING"));
    return { ...machine, lastEventSeq: 1 };
  });
}

/** Who may act on which machine: the api's visibility rule, checked on the locked row. */
export type MayAct = (machine: Machine) => boolean;

/**
 * The machine, locked, if it exists and the actor may act on it (then named in the audit
 * target); otherwise NotFoundError (ids are not secrets).
 */
async function lockOwnMachine(tx: Tx, id: string, mayAct: MayAct, target: AuditTarget): Promise<Machine> {
  const machine = await lockMachine(tx, id);
  if (!machine || !mayAct(machine)) throw new NotFoundError("machine");
  target.name = machine.name;
  return machine;
}

/**
 * Asks for the machine to be destroyed. Idempotent. A machine no host has taken is destroyed
 * at once; otherwise its agent tears it down (see stateOnDestroy).
 */
export async function destroyMachine(db: Db, actor: Actor, id: string, mayAct: MayAct): Promise<Machine> {
  return audited(db, { actor, action: "MACHINE_DESTROY", target: { id } }, async (tx, target) => {
    const machine = await lockOwnMachine(tx, id, mayAct, target);
    if (machine.state === "DESTROYED" || machine.desiredState === "DESTROYED") return machine;
    await markDestroyRequested(tx, id);
    await appendEvent(tx, id, stateChanged(stateOnDestroy(machine.state), "destroy requested"));
    return (await lockMachine(tx, id)) as Machine;
  });
}

/** Asks the agent to reboot a running machine. */
export async function rebootMachine(db: Db, actor: Actor, id: string, mayAct: MayAct): Promise<Machine> {
  return audited(db, { actor, action: "MACHINE_REBOOT", target: { id } }, async (tx, target) => {
    const machine = await lockOwnMachine(tx, id, mayAct, target);
    if (!canReboot(machine.state)) throw new InvalidStateError(machine.state, "reboot");
    return requestReboot(tx, id);
  });
}

/**
 * Asks the agent for a new boot on a new root disk from the machine's image version: what was
 * installed is gone, the home directory (on the host) is kept, as are its address and host key.
 */
export async function resetMachine(db: Db, actor: Actor, id: string, mayAct: MayAct): Promise<Machine> {
  return audited(db, { actor, action: "MACHINE_RESET", target: { id } }, async (tx, target) => {
    const machine = await lockOwnMachine(tx, id, mayAct, target);
    if (!canReboot(machine.state)) throw new InvalidStateError(machine.state, "reset");
    return requestReset(tx, id);
  });
}

/**
 * Adds keys that may log in as root and the owner, to a machine that may be running: its agent
 * writes them where the guest's sshd reads them, no reboot needed. Keys already there stay once.
 */
export async function addSshKeys(db: Db, actor: Actor, id: string, keys: string[], mayAct: MayAct): Promise<Machine> {
  return audited(db, { actor, action: "MACHINE_SSH_KEYS_ADD", target: { id } }, async (tx, target) => {
    const added = validateSshKeys(keys);
    const machine = await lockOwnMachine(tx, id, mayAct, target);
    if (machine.desiredState === "DESTROYED" || machine.state === "DESTROYED")
      throw new InvalidStateError(machine.state, "add ssh keys to");
    return setSshPublicKeys(tx, id, [...new Set([...machine.sshPublicKeys, ...added])]);
  });
}

/**
 * The owner lets their course's staff type in the machine's terminal and desktop (shared), or
 * only watch again; sockets opened after it get the new access. Audited.
 */
export async function shareScreen(db: Db, actor: Actor, id: string, shared: boolean, mayAct: MayAct): Promise<Machine> {
  return audited(db, { actor, action: "MACHINE_SCREEN_SHARE", target: { id } }, async (tx, target) => {
    await lockOwnMachine(tx, id, mayAct, target);
    return setScreenShared(tx, id, shared);
  });
}
