import { inWords, QuotaExceededError } from "./errors.js";

/** A member's part in a course: staff (INSTRUCTOR, TA) see and act on the course's machines; students their own. */
export const COURSE_ROLES = ["INSTRUCTOR", "TA", "STUDENT"] as const;
export type CourseRole = (typeof COURSE_ROLES)[number];

/** A lab check's result on one machine: PENDING until its host ran it; ERROR when it could not run. */
export const LAB_CHECK_STATES = ["PENDING", "PASSED", "FAILED", "ERROR"] as const;
export type LabCheckState = (typeof LAB_CHECK_STATES)[number];

/** A check's output is kept to this many bytes (its tail: where a script says what went wrong). */
export const LAB_CHECK_OUTPUT_BYTES = 16_384;

/** A check's output cut to its last LAB_CHECK_OUTPUT_BYTES, on a character boundary. */
export function checkOutputTail(output: string): string {
  const bytes = Buffer.from(output);
  if (bytes.length <= LAB_CHECK_OUTPUT_BYTES) return output;
  return `…${bytes
    .subarray(bytes.length - LAB_CHECK_OUTPUT_BYTES)
    .toString()
    .replace(/^\uFFFD+/, "")}`;
}

export const isCourseStaff = (role: CourseRole | undefined): boolean => role === "INSTRUCTOR" || role === "TA";

/** Warnings before a lab machine's end, in seconds: ten minutes and two, as Coder and Instruqt users ask. */
export const DEFAULT_LEASE_WARNINGS = [600, 120] as const;

/** The lab's warning times, largest first, without repeats. */
export function warningTimes(warnAtSeconds: readonly number[]): number[] {
  return [...new Set(warnAtSeconds)].sort((a, b) => b - a);
}

/**
 * What a lease needs now: the warnings whose time has come (of those not yet sent, largest
 * first; `sent` counts them) and whether the end itself has come. Warnings whose time passed
 * while the machine was younger than them are skipped, not sent late in a burst.
 */
export function leaseDue(
  lease: { expiresAt: Date; warnAtSeconds: readonly number[]; sent: number },
  now: Date,
): { warnings: number[]; sentAfter: number; expired: boolean } {
  const left = (lease.expiresAt.getTime() - now.getTime()) / 1000;
  const times = warningTimes(lease.warnAtSeconds);
  let sentAfter = lease.sent;
  const warnings: number[] = [];
  while (sentAfter < times.length && left <= (times[sentAfter] as number)) {
    const at = times[sentAfter] as number;
    sentAfter += 1;
    // Only the closest due warning is worth saying; earlier ones are stale.
    const next = times[sentAfter];
    if (next === undefined || left > next) warnings.push(at);
  }
  return { warnings, sentAfter, expired: left <= 0 };
}

/** How many of a new end's warnings are already behind it (after an extension, those still ahead are sent again). */
export function warningsPassed(warnAtSeconds: readonly number[], secondsLeft: number): number {
  return warningTimes(warnAtSeconds).filter((at) => secondsLeft <= at).length;
}

/** Words for a warning: what happens, when, and what the student can do. */
export function expiringMessage(secondsLeft: number, extensionLeftSeconds: number): string {
  const extend =
    extensionLeftSeconds > 0
      ? `; gaol extend can add up to ${inWords(extensionLeftSeconds)} more`
      : "; it cannot be extended further";
  return `this lab machine is destroyed in ${inWords(secondsLeft)} (your home directory is kept)${extend}`;
}

/** Where a lab stands: a scheduled one is CLOSED until its machines are booted for it, then PRESTART until it opens. */
export type LabWindow = "CLOSED" | "PRESTART" | "OPEN";

export function labWindow(lab: { opensAt: Date | null; prestartSeconds: number }, now: Date): LabWindow {
  if (!lab.opensAt || now.getTime() >= lab.opensAt.getTime()) return "OPEN";
  return now.getTime() >= lab.opensAt.getTime() - lab.prestartSeconds * 1000 ? "PRESTART" : "CLOSED";
}

/** A new lab machine's end: its time limit from now, or from the opening of a lab not open yet. */
export function leaseEnd(lab: { opensAt: Date | null; timeLimitSeconds: number }, now: Date): Date {
  const start = lab.opensAt && lab.opensAt.getTime() > now.getTime() ? lab.opensAt : now;
  return new Date(start.getTime() + lab.timeLimitSeconds * 1000);
}

/** Whether a scheduled lab's machines are due to be booted for its students now (and it has not ended). */
export function prestartDue(
  lab: { opensAt: Date | null; prestartSeconds: number; timeLimitSeconds: number; prestartedAt: Date | null },
  now: Date,
): boolean {
  if (!lab.opensAt || lab.prestartedAt) return false;
  const ended = now.getTime() >= lab.opensAt.getTime() + lab.timeLimitSeconds * 1000;
  return labWindow(lab, now) !== "CLOSED" && !ended;
}

interface Usage {
  machines: number;
  memoryMiB: number;
}

/**
 * Throws QuotaExceededError naming the budget when one more lab machine of memoryMiB would
 * take the student past the lab's machines per student, or the course past one of its budgets.
 */
export function checkCourseBudget(
  course: { maxMachines: number | null; maxMemoryMiB: number | null; studentMaxMachines: number | null },
  lab: { machinesPerStudent: number },
  used: { course: Usage; student: Usage; lab: Usage },
  memoryMiB: number,
): void {
  const over = (quota: string, limit: number | null, next: number) => {
    if (limit !== null && next > limit) throw new QuotaExceededError(quota, limit, next);
  };
  over("lab.machinesPerStudent", lab.machinesPerStudent, used.lab.machines + 1);
  over("course.studentMachines", course.studentMaxMachines, used.student.machines + 1);
  over("course.machines", course.maxMachines, used.course.machines + 1);
  over("course.memoryMiB", course.maxMemoryMiB, used.course.memoryMiB + memoryMiB);
}
