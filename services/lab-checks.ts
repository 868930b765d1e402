import {
  type Actor,
  checkOutputTail,
  isCourseStaff,
  type LabCheckState,
  NotFoundError,
  ValidationError,
} from "../core/index.js";
import type { Db } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { labNamed, liveLabMachines, membersOf } from "../db/queries/courses.js";
import { notifyMachineChanged } from "../db/queries/events.js";
import {
  finishLabCheckResult,
  insertLabCheck,
  insertLabCheckResults,
  type LabCheck,
} from "../db/queries/lab-checks.js";
import { lockMachine } from "../db/queries/machines.js";
import { type CourseViewer, visibleCourse } from "./courses.js";

/** The most machines one run checks: a course's lab machines, all of them. */
const MAX_CHECKED = 1000;

/**
 * Course staff run the lab's check in every live machine of the lab: each READY one gets a
 * PENDING result its host fills in (the host is woken through the machine's change), any other
 * an ERROR saying why it was not run. Audited. The script is copied into the run.
 */
export async function runLabCheck(
  db: Db,
  actor: Actor,
  viewer: CourseViewer,
  courseName: string,
  labName: string,
): Promise<LabCheck> {
  return audited(
    db,
    { actor, action: "LAB_CHECK_RUN", target: { name: `${courseName}/${labName}` } },
    async (tx, target) => {
      const { course, role } = await visibleCourse(tx, viewer, courseName);
      if (!isCourseStaff(role)) throw new NotFoundError("course (as its staff)");
      const lab = await labNamed(tx, course.id, labName);
      if (!lab) throw new NotFoundError(`lab ${labName} in ${courseName}`);
      if (!lab.checkScript)
        throw new ValidationError([
          { field: "lab", message: `${labName} has no check script: give one with createLab's checkScript` },
        ]);
      const check = await insertLabCheck(tx, {
        labId: lab.id,
        script: lab.checkScript,
        timeoutSeconds: lab.checkTimeoutSeconds,
        requestedBy: actor.userName,
      });
      target.id = check.id;
      // Students' machines only: a check is root in a machine that mounts its owner's home, and
      // staff (or admins) are not the ones whose work it checks.
      const students = new Set(
        (await membersOf(tx, course.id))
          .filter((m) => m.role === "STUDENT" && m.user.role === "USER")
          .map((m) => m.user.id),
      );
      const live = (await liveLabMachines(tx, lab.id, MAX_CHECKED)).filter((m) => students.has(m.ownerId));
      await insertLabCheckResults(
        tx,
        live.map((m) =>
          m.state === "READY"
            ? { checkId: check.id, machineId: m.id }
            : {
                checkId: check.id,
                machineId: m.id,
                state: "ERROR" as const,
                output: `not run: the machine is ${m.state}, not READY`,
                finishedAt: new Date(),
              },
        ),
      );
      for (const m of live) if (m.state === "READY") await notifyMachineChanged(tx, m.id);
      return check;
    },
  );
}

/**
 * A host's result of a check on one of its machines: exit 0 passes, another code fails, and
 * `error` (ssh could not get in, the timeout) is an ERROR. Only the machine's own host may say;
 * false when the result was already in or the machine is not that host's.
 */
export async function reportLabCheckResult(
  db: Db,
  hostId: string,
  report: { checkId: string; machineId: string; exitCode?: number | null; output: string; error?: string | null },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const machine = await lockMachine(tx, report.machineId);
    if (!machine || machine.hostId !== hostId) return false;
    const state: LabCheckState = report.error ? "ERROR" : report.exitCode === 0 ? "PASSED" : "FAILED";
    const output = report.error ? `${report.output}${report.output ? "\n" : ""}${report.error}` : report.output;
    const finished = await finishLabCheckResult(tx, report.checkId, report.machineId, {
      state,
      exitCode: report.error ? null : (report.exitCode ?? null),
      output: checkOutputTail(output),
    });
    // The host learns of the machine's next waiting check, if any, as of any change.
    if (finished) await notifyMachineChanged(tx, report.machineId);
    return finished;
  });
}
