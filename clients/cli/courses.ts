import { readFile } from "node:fs/promises";
import { GaolClient, type Machine } from "../sdk/client.js";
import type { CourseRole } from "../sdk/generated.js";
import type { Endpoint } from "../sdk/request.js";
import { parseDuration, wholeNumber as whole } from "./duration.js";
import { ago, fromNow, minutes, printJson, printTable, stateLabel } from "./output.js";

const ROLES: readonly CourseRole[] = ["INSTRUCTOR", "TA", "STUDENT"];

/** "2h", "45m": seconds, for a flag that takes a span of time. */
const seconds = (flag: string, text: string | undefined) => {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text);
  } catch (error) {
    throw new Error(`${flag}: ${(error as Error).message}`);
  }
};

/** "COURSE/LAB", as `gaol up --lab` and `gaol lab` take it. */
export function labPath(text: string | undefined, usage: string): { course: string; lab: string } {
  const match = /^([^/\s]+)\/([^/\s]+)$/.exec(text ?? "");
  if (!match) throw new Error(usage);
  return { course: match[1] as string, lab: match[2] as string };
}

/** `gaol course create NAME`: ADMIN; a course and its first instructors. */
export async function createCourse(
  endpoint: Endpoint,
  name: string | undefined,
  args: {
    title?: string;
    instructor?: string[];
    "max-machines"?: string;
    "max-memory"?: string;
    "student-max-machines"?: string;
    "host-account-prefix"?: string;
  },
) {
  if (!name) throw new Error("usage: gaol course create NAME [--title T] [--instructor USER]... [--max-machines N]");
  const course = await new GaolClient(endpoint).createCourse({
    name,
    title: args.title,
    instructors: args.instructor,
    maxMachines: whole("--max-machines", args["max-machines"]),
    maxMemoryMiB: whole("--max-memory", args["max-memory"]),
    studentMaxMachines: whole("--student-max-machines", args["student-max-machines"]),
    hostAccountPrefix: args["host-account-prefix"],
  });
  console.error(`gaol: course ${course.name} made; its instructors enrol students with gaol course enrol ${name}`);
}

/** `gaol course ls`: your courses, your part in each, and their labs. */
export async function listCourses(endpoint: Endpoint, json: boolean) {
  const courses = await new GaolClient(endpoint).courses();
  if (json) return printJson(courses);
  if (courses.length === 0) {
    console.error("gaol: you are in no course yet: your instructor enrols you");
    return;
  }
  printTable([
    ["COURSE", "ROLE", "TITLE", "LABS"],
    ...courses.map((c) => [c.name, c.viewerRole, c.title ?? "-", c.labs.map((l) => l.name).join(", ") || "-"]),
  ]);
}

/**
 * `gaol course enrol COURSE USER[:ACCOUNT]... [--role R]`: adds members, making the users who are
 * missing with the host account after the colon (their machines run as it, their home is its home).
 */
export async function enrol(endpoint: Endpoint, course: string | undefined, users: string[], role?: string) {
  if (!course || users.length === 0)
    throw new Error("usage: gaol course enrol COURSE USER[:HOST_ACCOUNT]... [--role STUDENT|TA|INSTRUCTOR]");
  const asked = role?.toUpperCase() as CourseRole | undefined;
  if (asked && !ROLES.includes(asked)) throw new Error("--role must be STUDENT, TA or INSTRUCTOR");
  const enrolled = await new GaolClient(endpoint).enrol(
    course,
    users.map((entry) => {
      const [user, hostUser] = entry.split(":");
      return { user: user as string, hostUser: hostUser || undefined, role: asked };
    }),
  );
  for (const m of enrolled) {
    const account = m.user.hostUser ? `runs as ${m.user.hostUser}` : "no host account: their machines cannot start";
    console.error(`gaol: ${m.user.name} is ${m.role} in ${course} (${account})`);
  }
}

/**
 * `gaol course token COURSE USER...`: tokens for members the course enrolled, printed once on
 * stdout: the token alone for one user, `USER<TAB>TOKEN` lines for several (made all or none).
 */
export async function courseToken(endpoint: Endpoint, course: string | undefined, users: string[], expires?: string) {
  if (!course || users.length === 0) throw new Error("usage: gaol course token COURSE USER... [--expires 7d]");
  const client = new GaolClient(endpoint);
  const expiresIn = seconds("--expires", expires);
  if (users.length === 1) {
    console.log((await client.createCourseToken(course, users[0] as string, expiresIn)).token);
    return;
  }
  for (const t of await client.createCourseTokens(course, users, expiresIn)) console.log(`${t.user.name}\t${t.token}`);
}

/** `gaol course reset COURSE STUDENT [MACHINE]`: staff put a student's lab machine back to the lab's starter disk. */
export async function resetStudentMachine(
  endpoint: Endpoint,
  course: string | undefined,
  student: string | undefined,
  name: string | undefined,
): Promise<number> {
  if (!course || !student) throw new Error("usage: gaol course reset COURSE STUDENT [MACHINE]");
  const client = new GaolClient(endpoint);
  const theirs = (await client.courseMachines(course)).filter(
    (m) => m.owner.name === student && (!name || m.name === name),
  );
  if (theirs.length !== 1)
    throw new Error(
      theirs.length === 0
        ? `${student} has no live lab machine${name ? ` named ${name}` : ""} in ${course} (gaol course machines ${course})`
        : `${student} has ${theirs.length} lab machines in ${course}: name one`,
    );
  const { rebootShown } = await import("./machines.js");
  return rebootShown(client, theirs[0] as Machine, "reset", false);
}

/** `gaol course machines COURSE`: the instructor's view, everyone's lab machines with their state and end. */
export async function courseMachines(endpoint: Endpoint, course: string | undefined, json: boolean) {
  if (!course) throw new Error("usage: gaol course machines COURSE [--json]");
  const machines = await new GaolClient(endpoint).courseMachines(course);
  if (json) return printJson(machines);
  if (machines.length === 0) {
    console.error(`gaol: no live lab machines in ${course}`);
    return;
  }
  printTable([
    ["OWNER", "NAME", "LAB", "STATE", "IP", "ACTIVE", "ENDS"],
    ...machines.map((m) => [
      m.owner.name,
      m.name,
      m.lab?.name ?? "-",
      stateLabel(m),
      m.ipAddress ?? "-",
      m.lastActivityAt ? `${ago(m.lastActivityAt)} (${m.lastActivityKind?.toLowerCase()})` : "-",
      m.expiresAt ? fromNow(m.expiresAt) : "-",
    ]),
  ]);
}

const LAB_USAGE =
  "usage: gaol lab create COURSE/LAB --time 2h [--extend 30m] [--warn 10m,2m] [--idle 30m] [--image I] [--memory MiB] [--per-student N] [--opens 14:00 [--prestart 2m]] [--check FILE]";

/**
 * "14:00" (today, or tomorrow once past) or an ISO 8601 instant: when a scheduled lab opens.
 */
export function opensAt(text: string | undefined, now = new Date()): Date | undefined {
  if (text === undefined) return undefined;
  const clock = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (clock) {
    const at = new Date(now);
    at.setHours(Number(clock[1]), Number(clock[2]), 0, 0);
    if (at.getTime() <= now.getTime()) at.setDate(at.getDate() + 1);
    return at;
  }
  const at = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(at.getTime()))
    throw new Error(`--opens takes a time such as 14:00 or 2026-12-03T14:00:00Z, not ${JSON.stringify(text)}`);
  return at;
}

/** `gaol lab create COURSE/LAB --time 2h`: the course's instructor adds a lab. */
export async function createLab(
  endpoint: Endpoint,
  path: string | undefined,
  args: {
    time?: string;
    extend?: string;
    warn?: string;
    image?: string;
    memory?: string;
    "per-student"?: string;
    opens?: string;
    prestart?: string;
    check?: string;
    idle?: string;
  },
) {
  const { course, lab } = labPath(path, LAB_USAGE);
  const timeLimitSeconds = seconds("--time", args.time);
  if (timeLimitSeconds === undefined) throw new Error(`${LAB_USAGE}\n(--time is how long each machine lives)`);
  const made = await new GaolClient(endpoint).createLab(course, {
    name: lab,
    timeLimitSeconds,
    maxExtensionSeconds: seconds("--extend", args.extend),
    warnAtSeconds: args.warn?.split(",").map((w) => seconds("--warn", w) as number),
    image: args.image,
    memoryMiB: whole("--memory", args.memory),
    machinesPerStudent: whole("--per-student", args["per-student"]),
    opensAt: opensAt(args.opens)?.toISOString(),
    prestartSeconds: seconds("--prestart", args.prestart),
    checkScript: args.check === undefined ? undefined : await readFile(args.check, "utf8"),
    idleLimitSeconds: seconds("--idle", args.idle),
  });
  const scheduled = made.opensAt
    ? `; it opens ${new Date(made.opensAt).toLocaleString()}, and its students' machines are booted ${minutes(made.prestartSeconds)} before`
    : "";
  console.error(
    `gaol: lab ${course}/${made.name}: machines live ${minutes(made.timeLimitSeconds)}, extendable by ${minutes(made.maxExtensionSeconds)}${scheduled}; students run gaol up --lab ${course}/${made.name}`,
  );
}

/**
 * `gaol lab check COURSE/LAB`: runs the lab's check in every student's machine, waits for the
 * results (up to --wait), and prints them as a table; exit 1 when any did not pass.
 */
export async function checkLab(endpoint: Endpoint, path: string | undefined, args: { wait?: string; json?: boolean }) {
  const { course, lab } = labPath(path, "usage: gaol lab check COURSE/LAB [--wait 2m] [--json]");
  const client = new GaolClient(endpoint);
  const waitMs = (seconds("--wait", args.wait) ?? 120) * 1000;
  let check = await client.runLabCheck(course, lab);
  const deadline = Date.now() + waitMs;
  while (!check.done && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    check = (await client.labCheck(check.id)) ?? check;
  }
  if (args.json) printJson(check);
  else if (check.results.length === 0) console.error(`gaol: ${course}/${lab} has no live machines to check`);
  else
    printTable([
      ["STUDENT", "MACHINE", "RESULT", "EXIT", "OUTPUT"],
      ...check.results.map((r) => [
        r.owner,
        r.machineName,
        r.state,
        r.exitCode === null || r.exitCode === undefined ? "-" : String(r.exitCode),
        (r.output ?? "").trim().split("\n").at(-1)?.slice(0, 60) ?? "",
      ]),
    ]);
  const passed = check.results.filter((r) => r.state === "PASSED").length;
  if (!args.json)
    console.error(
      `gaol: ${passed} of ${check.results.length} passed${check.done ? "" : "; some are still running (gaol lab check again later, or --wait longer)"}`,
    );
  return passed === check.results.length && check.done ? 0 : 1;
}

/** `gaol lab ls [COURSE]`: the labs of your courses. */
export async function listLabs(endpoint: Endpoint, course: string | undefined, json: boolean) {
  const courses = (await new GaolClient(endpoint).courses()).filter((c) => !course || c.name === course);
  if (course && courses.length === 0)
    throw new Error(`you are in no course named ${course} (gaol course ls lists yours)`);
  const labs = courses.flatMap((c) => c.labs.map((lab) => ({ course: c.name, ...lab })));
  if (json) return printJson(labs);
  if (labs.length === 0) {
    console.error("gaol: no labs yet");
    return;
  }
  printTable([
    ["LAB", "IMAGE", "MEMORY", "TIME", "EXTEND", "WARNINGS", "OPENS"],
    ...labs.map((l) => [
      `${l.course}/${l.name}`,
      l.imageVersion ? `${l.image.name}@${l.imageVersion}` : l.image.name,
      `${l.memoryMiB} MiB`,
      minutes(l.timeLimitSeconds),
      minutes(l.maxExtensionSeconds),
      l.warnAtSeconds.map(minutes).join(", ") || "-",
      l.opensAt && Date.parse(l.opensAt) > Date.now() ? fromNow(l.opensAt) : "open",
    ]),
  ]);
}
