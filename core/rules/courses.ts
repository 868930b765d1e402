import { COURSE_ROLES, type CourseRole, DEFAULT_LEASE_WARNINGS } from "../courses.js";
import { DEFAULT_IMAGE, MEMORY_MIB } from "../defaults.js";
import { fieldPath } from "../fields.js";
import { FieldErrors } from "./check.js";
import { hostAccount, imageName, machineName, userName } from "./names.js";
import { integerWithin, memoryMiB, positiveInteger } from "./values.js";

/** A lab machine lives from 5 seconds (tests, demos) to a week. */
export const LAB_TIME_BOUNDS = { min: 5, max: 7 * 86_400 };
const extension = integerWithin({ min: 0, max: LAB_TIME_BOUNDS.max });

export interface CourseInput {
  name: string;
  title?: string | null;
  maxMachines?: number | null;
  maxMemoryMiB?: number | null;
  studentMaxMachines?: number | null;
  /** The host accounts the course's instructors may give: only names starting with this (admins: any). */
  hostAccountPrefix?: string | null;
}

/** A course: a name like a user's (it is typed in commands), budgets positive when given. */
export function validateCourse<T extends CourseInput>(input: T): T {
  const errors = new FieldErrors().check("name", input.name, userName);
  for (const key of ["maxMachines", "maxMemoryMiB", "studentMaxMachines"] as const) {
    const value = input[key];
    if (value != null) errors.check(key, value, positiveInteger);
  }
  if (input.hostAccountPrefix != null && !/^[a-z_][a-z0-9_-]{0,15}$/.test(input.hostAccountPrefix))
    errors.add({ field: "hostAccountPrefix", message: "must be 1–16 of a-z, 0-9, _ and -, not starting with a digit" });
  errors.throwIfAny();
  return input;
}

export interface EnrolmentInput {
  user: string;
  role?: CourseRole | null;
  hostUser?: string | null;
}

export function validateEnrolments(enrolments: readonly EnrolmentInput[]) {
  const errors = new FieldErrors();
  if (enrolments.length === 0) errors.add({ field: "users", message: "needs at least one user" });
  if (enrolments.length > 1000) errors.add({ field: "users", message: "at most 1000 at once" });
  for (const [i, e] of enrolments.entries()) {
    errors.check(fieldPath("users", i, "user"), e.user, userName);
    if (e.hostUser) errors.check(fieldPath("users", i, "hostUser"), e.hostUser, hostAccount);
    if (e.role && !COURSE_ROLES.includes(e.role))
      errors.add({ field: fieldPath("users", i, "role"), message: "is not a course role" });
  }
  errors.throwIfAny();
  return enrolments.map((e) => ({ user: e.user, role: e.role ?? "STUDENT", hostUser: e.hostUser ?? undefined }));
}

export interface LabInput {
  name: string;
  image?: string | null;
  imageVersion?: number | null;
  memoryMiB?: number | null;
  timeLimitSeconds: number;
  maxExtensionSeconds?: number | null;
  warnAtSeconds?: number[] | null;
  machinesPerStudent?: number | null;
  /** A scheduled lab: machines' leases run from here, and they are booted prestartSeconds before. */
  opensAt?: Date | null;
  prestartSeconds?: number | null;
  /** Run as root in each student's machine by runLabCheck: exit 0 passes. */
  checkScript?: string | null;
  checkTimeoutSeconds?: number | null;
  /** A READY machine with no use the host can see for this long is ended (home kept). */
  idleLimitSeconds?: number | null;
}

/** A check script is a file's worth of shell (64 KiB), run for at most ten minutes. */
export const LAB_CHECK_BOUNDS = { maxScriptBytes: 65_536, maxTimeoutSeconds: 600 };

/** A lab may be scheduled up to a year ahead, its machines booted up to an hour before it opens. */
export const LAB_SCHEDULE_BOUNDS = { maxAheadSeconds: 366 * 86_400, maxPrestartSeconds: 3600 };

/** A lab: its name is its machines' default name, so a DNS label; warnings fall inside the time limit. */
export function validateLab(input: LabInput, now = new Date()) {
  const errors = new FieldErrors().check("name", input.name, machineName);
  const image = input.image ?? DEFAULT_IMAGE;
  errors.check("image", image, imageName);
  if (input.imageVersion != null) errors.check("imageVersion", input.imageVersion, positiveInteger);
  const memory = input.memoryMiB ?? MEMORY_MIB.default;
  errors.check("memoryMiB", memory, memoryMiB);
  errors.check("timeLimitSeconds", input.timeLimitSeconds, integerWithin(LAB_TIME_BOUNDS));
  const maxExtensionSeconds = input.maxExtensionSeconds ?? 0;
  errors.check("maxExtensionSeconds", maxExtensionSeconds, extension);
  const warnAtSeconds = input.warnAtSeconds ?? DEFAULT_LEASE_WARNINGS.filter((w) => w < input.timeLimitSeconds);
  const within = integerWithin({ min: 1, max: Math.max(1, input.timeLimitSeconds - 1) });
  for (const [i, at] of warnAtSeconds.entries()) errors.check(fieldPath("warnAtSeconds", i), at, within);
  const machinesPerStudent = input.machinesPerStudent ?? 1;
  errors.check("machinesPerStudent", machinesPerStudent, integerWithin({ min: 1, max: 10 }));
  const prestartSeconds = input.prestartSeconds ?? 120;
  errors.check(
    "prestartSeconds",
    prestartSeconds,
    integerWithin({ min: 0, max: LAB_SCHEDULE_BOUNDS.maxPrestartSeconds }),
  );
  if (input.idleLimitSeconds != null)
    errors.check("idleLimitSeconds", input.idleLimitSeconds, integerWithin(LAB_TIME_BOUNDS));
  const checkTimeoutSeconds = input.checkTimeoutSeconds ?? 30;
  errors.check(
    "checkTimeoutSeconds",
    checkTimeoutSeconds,
    integerWithin({ min: 1, max: LAB_CHECK_BOUNDS.maxTimeoutSeconds }),
  );
  if (input.checkScript != null) {
    if (!input.checkScript.trim()) errors.add({ field: "checkScript", message: "is empty (leave it out for none)" });
    else if (Buffer.byteLength(input.checkScript) > LAB_CHECK_BOUNDS.maxScriptBytes)
      errors.add({ field: "checkScript", message: "is over 64 KiB" });
  }
  if (input.opensAt) {
    const ahead = (input.opensAt.getTime() - now.getTime()) / 1000;
    if (!(ahead > 0)) errors.add({ field: "opensAt", message: "must be in the future (leave it out to open now)" });
    else if (ahead > LAB_SCHEDULE_BOUNDS.maxAheadSeconds)
      errors.add({ field: "opensAt", message: "at most a year ahead" });
  }
  errors.throwIfAny();
  return {
    name: input.name,
    image,
    imageVersion: input.imageVersion ?? undefined,
    memoryMiB: memory,
    timeLimitSeconds: input.timeLimitSeconds,
    maxExtensionSeconds,
    warnAtSeconds,
    machinesPerStudent,
    opensAt: input.opensAt ?? null,
    prestartSeconds,
    checkScript: input.checkScript ?? null,
    checkTimeoutSeconds,
    idleLimitSeconds: input.idleLimitSeconds ?? null,
  };
}

/** An extension: a positive whole number of seconds (the lab's cap is checked against the machine). */
export function validateExtension(seconds: number): number {
  new FieldErrors().check("seconds", seconds, integerWithin({ min: 1, max: LAB_TIME_BOUNDS.max })).throwIfAny();
  return seconds;
}
