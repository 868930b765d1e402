import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idleEnded, keepLeases } from "../../services/leases.js";
import { prestartLabs } from "../../services/prestart.js";
import { NO_RATE_LIMIT, startTestApi, type TestApi } from "../helpers/api.js";

const CREATE_COURSE = `mutation ($input: CreateCourseInput!) { createCourse(input: $input) {
  __typename ... on CreateCoursePayload { course { name } } ... on Error { message } } }`;
const ENROL = `mutation ($course: String!, $users: [EnrolmentInput!]!) { enrolInCourse(course: $course, users: $users) {
  __typename ... on EnrolInCoursePayload { enrolled { user { name } role } }
  ... on Error { message } ... on ValidationError { fields { field message } } } }`;
const TOKEN = `mutation ($course: String!, $user: String!) { createCourseToken(course: $course, user: $user) {
  __typename ... on CreateCourseTokenPayload { token } ... on Error { message } } }`;
const CREATE_LAB = `mutation ($course: String!, $input: CreateLabInput!) { createLab(course: $course, input: $input) {
  __typename ... on CreateLabPayload { lab { name timeLimitSeconds warnAtSeconds } } ... on Error { message } } }`;
const START_LAB = `mutation ($course: String!, $lab: String!, $name: String) { startLab(course: $course, lab: $lab, name: $name) {
  __typename ... on StartLabPayload { machine { id name expiresAt extensionLeftSeconds lab { name } } }
  ... on Error { message } ... on QuotaExceededError { quota limit requested } } }`;
const EXTEND = `mutation ($id: ID!, $seconds: Int!) { extendMachine(id: $id, seconds: $seconds) {
  __typename ... on ExtendMachinePayload { machine { expiresAt extendedSeconds extensionLeftSeconds } }
  ... on Error { message } ... on ExtensionRefusedError { maxExtensionSeconds extensionLeftSeconds } } }`;
const COURSE_MACHINES = `query ($name: String!) { course(name: $name) { viewerRole
  machines { edges { node { name owner { name } } } } members { user { name } role } } }`;
const MACHINE = `query ($id: ID!) { machine(id: $id) { name state desiredState stateReason expiresAt events {
  __typename ... on MachineExpiring { secondsLeft extensionLeftSeconds message }
  ... on MachineLeaseExtended { bySeconds by } } } }`;

let api: TestApi;
let admin: string;
let instructor: string;
let ta: string;
let stuA: string;
let stuB: string;
let outsider: string;
let agent: string;

/** The row id inside a Relay global id ("Machine:<uuid>"), as the lease pass reports it. */
const rowId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1];

let agentSeq = 0;
async function report(machineId: string, kind: string, payload: object) {
  return api.gql(
    agent,
    `mutation ($events: [MachineEventInput!]!) { reportMachineEvents(events: $events) { stored } }`,
    { events: [{ machineId, agentSeq: ++agentSeq, kind, payload }] },
  );
}

const names = (course: { machines: { edges: Array<{ node: { name: string; owner: { name: string } } }> } }) =>
  course.machines.edges.map((e) => `${e.node.owner.name}/${e.node.name}`).sort();

async function courseToken(course: string, user: string) {
  const { createCourseToken } = await api.ok(instructor, TOKEN, { course, user });
  expect(createCourseToken.__typename).toBe("CreateCourseTokenPayload");
  return createCourseToken.token as string;
}

async function startLab(token: string, lab = "shell", name?: string) {
  return (await api.ok(token, START_LAB, { course: "os101", lab, name })).startLab;
}

beforeAll(async () => {
  // Leases are driven by keepLeases with a chosen clock, not by the replica's timer.
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0, rateLimit: NO_RATE_LIMIT });
  agent = await api.login("courses-host", "AGENT");
  admin = await api.login("courses-admin", "ADMIN");
  instructor = await api.login("prof");
  const made = await api.ok(admin, CREATE_COURSE, {
    input: {
      name: "os101",
      hostAccountPrefix: "t-",
      title: "Operating systems",
      instructors: ["prof"],
      maxMachines: 3,
    },
  });
  expect(made.createCourse.__typename).toBe("CreateCoursePayload");
  await api.ok(admin, CREATE_COURSE, { input: { name: "net202", hostAccountPrefix: "t-", instructors: ["prof"] } });
  const enrolled = await api.ok(instructor, ENROL, {
    course: "os101",
    users: [
      { user: "tina", role: "TA", hostUser: "t-tina" },
      { user: "stu-a", hostUser: "t-stu-a" },
      { user: "stu-b", hostUser: "t-stu-b" },
      { user: "stu-c", hostUser: "t-stu-c" },
      { user: "stu-d", hostUser: "t-stu-d" },
    ],
  });
  expect(enrolled.enrolInCourse.__typename).toBe("EnrolInCoursePayload");
  await api.ok(instructor, ENROL, { course: "net202", users: [{ user: "xavier", hostUser: "t-xavier" }] });
  [ta, stuA, stuB, outsider] = await Promise.all([
    courseToken("os101", "tina"),
    courseToken("os101", "stu-a"),
    courseToken("os101", "stu-b"),
    courseToken("net202", "xavier"),
  ]);
  const lab = await api.ok(instructor, CREATE_LAB, {
    course: "os101",
    input: { name: "shell", timeLimitSeconds: 3600, maxExtensionSeconds: 900 },
  });
  expect(lab.createLab).toMatchObject({ lab: { name: "shell", timeLimitSeconds: 3600, warnAtSeconds: [600, 120] } });
});
afterAll(() => api?.close());

describe("a course's lab machines", () => {
  let machineA: string;
  let machineB: string;

  it("start for each student with the lab's lease, one per student", async () => {
    const before = Date.now();
    const a = await startLab(stuA);
    expect(a).toMatchObject({
      __typename: "StartLabPayload",
      machine: { name: "shell", lab: { name: "shell" }, extensionLeftSeconds: 900 },
    });
    const ends = new Date(a.machine.expiresAt).getTime();
    expect(ends).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(ends).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    machineA = a.machine.id;
    machineB = (await startLab(stuB)).machine.id;

    const again = await startLab(stuA, "shell", "shell-2");
    expect(again).toMatchObject({ __typename: "QuotaExceededError", quota: "lab.machinesPerStudent", limit: 1 });
    expect(again.message).toMatch(/lab/);
  });

  it("are seen by the course's staff and by nobody outside it", async () => {
    const byTa = (await api.ok(ta, COURSE_MACHINES, { name: "os101" })).course;
    expect(byTa.viewerRole).toBe("TA");
    expect(names(byTa)).toEqual(["stu-a/shell", "stu-b/shell"]);
    expect((await api.ok(ta, MACHINE, { id: machineA })).machine.name).toBe("shell");

    // A student sees their own machine in the course, and only the staff in its roster.
    const byB = (await api.ok(stuB, COURSE_MACHINES, { name: "os101" })).course;
    expect(names(byB)).toEqual(["stu-b/shell"]);
    expect(byB.members.map((m: { role: string }) => m.role).sort()).toEqual(["INSTRUCTOR", "TA"]);
    expect((await api.ok(stuB, MACHINE, { id: machineA })).machine).toBeNull();

    // Another course's student: no course, no machine, no list.
    expect((await api.ok(outsider, COURSE_MACHINES, { name: "os101" })).course).toBeNull();
    expect((await api.ok(outsider, MACHINE, { id: machineA })).machine).toBeNull();
    const theirs = await api.ok(outsider, "{ machines { edges { node { id } } } }");
    expect(theirs.machines.edges).toEqual([]);
  });

  it("warn at 10 and 2 minutes before the end, once each, then are destroyed at it", async () => {
    const ends = new Date((await api.ok(stuA, MACHINE, { id: machineA })).machine.expiresAt).getTime();
    const at = (secondsBefore: number) => keepLeases(api.database.db, new Date(ends - secondsBefore * 1000));
    const a = rowId(machineA);
    expect((await at(601)).warned).not.toContain(a);
    expect((await at(599)).warned).toContain(a);
    expect((await at(598)).warned).not.toContain(a);
    expect((await at(119)).warned).toContain(a);
    expect((await at(1)).warned).not.toContain(a);

    let machine = (await api.ok(stuA, MACHINE, { id: machineA })).machine;
    const warnings = machine.events.filter((e: { __typename: string }) => e.__typename === "MachineExpiring");
    expect(warnings.map((w: { secondsLeft: number }) => w.secondsLeft)).toEqual([599, 119]);
    expect(warnings[0].message).toMatch(/destroyed in 10 minutes .*home directory is kept.*gaol extend/);
    expect(machine.desiredState).not.toBe("DESTROYED");

    for (const state of ["PROVISIONING", "BOOTING", "READY"]) await report(machineA, "MachineStateChanged", { state });
    const pass = await at(0);
    expect(pass.ended).toContain(a);
    expect(pass.ended).not.toContain(rowId(machineB));
    machine = (await api.ok(stuA, MACHINE, { id: machineA })).machine;
    expect(machine).toMatchObject({ state: "STOPPING", desiredState: "DESTROYED" });
    expect(machine.stateReason).toMatch(/lab's time is up/);
    expect((await at(0)).ended).not.toContain(a);

    const audit = await api.ok(admin, `{ auditLog(first: 50) { edges { node { action userName targetId } } } }`);
    const entries = audit.auditLog.edges.map((e: { node: object }) => e.node);
    expect(entries).toContainEqual({ action: "MACHINE_DESTROY", userName: "gaol", targetId: machineA });
  });

  it("extend within the lab's cap, and refuse beyond it", async () => {
    const before = (await api.ok(stuB, MACHINE, { id: machineB })).machine;
    const extended = (await api.ok(stuB, EXTEND, { id: machineB, seconds: 600 })).extendMachine;
    expect(extended).toMatchObject({
      __typename: "ExtendMachinePayload",
      machine: { extendedSeconds: 600, extensionLeftSeconds: 300 },
    });
    expect(new Date(extended.machine.expiresAt).getTime() - new Date(before.expiresAt).getTime()).toBe(600_000);

    const refused = (await api.ok(stuB, EXTEND, { id: machineB, seconds: 301 })).extendMachine;
    expect(refused).toMatchObject({
      __typename: "ExtensionRefusedError",
      maxExtensionSeconds: 900,
      extensionLeftSeconds: 300,
    });
    expect(refused.message).toMatch(/allows 5 minutes more of extension \(15 minutes in all\)/);

    // Staff may extend a student's machine; another student may not even find it.
    expect((await api.ok(ta, EXTEND, { id: machineB, seconds: 60 })).extendMachine.machine.extendedSeconds).toBe(660);
    expect((await api.ok(stuA, EXTEND, { id: machineB, seconds: 60 })).extendMachine.__typename).toBe("NotFoundError");

    const events = (await api.ok(stuB, MACHINE, { id: machineB })).machine.events;
    const extensions = events.filter((e: { __typename: string }) => e.__typename === "MachineLeaseExtended");
    expect(extensions).toEqual([
      { __typename: "MachineLeaseExtended", bySeconds: 600, by: "stu-b" },
      { __typename: "MachineLeaseExtended", bySeconds: 60, by: "tina" },
    ]);
  });

  it("refuse to extend a machine that is not a lab's", async () => {
    const { provisionMachine } = await api.ok(
      stuB,
      `mutation { provisionMachine(input: { name: "own" }) { ... on ProvisionMachinePayload { machine { id } } } }`,
    );
    const result = (await api.ok(stuB, EXTEND, { id: provisionMachine.machine.id, seconds: 60 })).extendMachine;
    expect(result.__typename).toBe("InvalidStateError");
  });

  it("share the course's budget: the machine past it is refused, naming the budget", async () => {
    const stuC = await courseToken("os101", "stu-c");
    const stuD = await courseToken("os101", "stu-d");
    expect((await startLab(stuC)).__typename).toBe("StartLabPayload");
    // stu-a's machine counts until its host has destroyed it.
    expect((await startLab(ta)).__typename).toBe("QuotaExceededError");
    await report(machineA, "MachineStateChanged", { state: "DESTROYED" });
    expect((await startLab(ta)).__typename).toBe("StartLabPayload");
    const over = await startLab(stuD);
    expect(over).toMatchObject({ __typename: "QuotaExceededError", quota: "course.machines", limit: 3, requested: 4 });
    expect(over.message).toMatch(/course/);
  });

  it("cannot be reported into by an agent: leases are the api's word", async () => {
    const { data, errors } = await report(machineB, "MachineExpiring", {
      endsAt: new Date().toISOString(),
      secondsLeft: 1,
      extensionLeftSeconds: 0,
      message: "x",
    });
    expect(data?.reportMachineEvents ?? null).toBeNull();
    expect(errors?.[0]?.message).toBeTruthy();

    // The host's agent sees the machine, and of its course nothing but the name.
    const seen = await api.ok(
      agent,
      `query ($id: ID!) { machine(id: $id) { lab { name course { name members { role } labs { name } } } } }`,
      {
        id: machineB,
      },
    );
    expect(seen.machine.lab).toEqual({ name: "shell", course: { name: "os101", members: [], labs: [] } });
  });
});

describe("course staff's limits", () => {
  it("a TA cannot add labs or enrol, and an instructor of one course nothing in another", async () => {
    const lab = await api.ok(ta, CREATE_LAB, { course: "os101", input: { name: "x", timeLimitSeconds: 60 } });
    expect(lab.createLab.__typename).toBe("NotFoundError");
    const enrol = await api.ok(ta, ENROL, { course: "os101", users: [{ user: "sneaky" }] });
    expect(enrol.enrolInCourse.__typename).toBe("NotFoundError");
  });

  it("an instructor cannot take another user's host account, nor remap or mint for an admin's users", async () => {
    const taken = await api.ok(instructor, ENROL, {
      course: "os101",
      users: [{ user: "mallory", hostUser: "t-stu-a" }],
    });
    const refusal =
      "cannot be given here: an instructor gives a host account starting with t- to a user this course made, once; an admin does the rest";
    expect(taken.enrolInCourse.fields).toEqual([{ field: "users.0.hostUser", message: refusal }]);
    // Outside the course's prefix (postgres, a colleague's account): the same words, whether it exists or not.
    for (const hostUser of ["postgres", "root", "prof"]) {
      const outside = await api.ok(instructor, ENROL, { course: "os101", users: [{ user: "eve", hostUser }] });
      expect(outside.enrolInCourse.fields).toEqual([{ field: "users.0.hostUser", message: refusal }]);
    }
    // A course an admin gave no prefix: its instructor maps no host account at all.
    await api.ok(admin, CREATE_COURSE, { input: { name: "noprefix", instructors: ["prof"] } });
    const none = await api.ok(instructor, ENROL, { course: "noprefix", users: [{ user: "eve", hostUser: "t-eve" }] });
    expect(none.enrolInCourse.fields[0].message).toMatch(
      /an admin maps host accounts, or gives the course a hostAccountPrefix/,
    );
    // A user another course made, with no host account yet, is not this instructor's to map.
    await api.ok(admin, CREATE_COURSE, {
      input: { name: "other1", hostAccountPrefix: "t-", instructors: ["courses-admin"] },
    });
    await api.ok(admin, ENROL, { course: "other1", users: [{ user: "orphan" }] });
    const theirs = await api.ok(instructor, ENROL, {
      course: "os101",
      users: [{ user: "orphan", hostUser: "t-orphan" }],
    });
    expect(theirs.enrolInCourse.fields[0].message).toBe(refusal);

    // "ann" was made by an admin (login maps her host account): enrolled, but not remapped or minted for.
    await api.login("ann");
    expect(
      (await api.ok(instructor, ENROL, { course: "os101", users: [{ user: "ann" }] })).enrolInCourse.__typename,
    ).toBe("EnrolInCoursePayload");
    const remap = await api.ok(instructor, ENROL, { course: "os101", users: [{ user: "ann", hostUser: "t-ann2" }] });
    expect(remap.enrolInCourse.fields[0].message).toBe(refusal);
    const mint = await api.ok(instructor, TOKEN, { course: "os101", user: "ann" });
    expect(mint.createCourseToken.__typename).toBe("ValidationError");
    expect(mint.createCourseToken.message).toMatch(/an admin makes their tokens/);

    // Nor for an admin, whose token would be an admin's.
    const enrolAdmin = await api.ok(instructor, ENROL, { course: "os101", users: [{ user: "courses-admin" }] });
    expect(enrolAdmin.enrolInCourse.__typename).toBe("ValidationError");
  });

  it("mints a class's tokens in one change, all or none", async () => {
    const MANY = `mutation ($course: String!, $users: [String!]!) { createCourseTokens(course: $course, users: $users) {
      __typename ... on CreateCourseTokensPayload { tokens { token user { name } } }
      ... on ValidationError { fields { field message } } } }`;
    const TOKENS = `query ($user: String) { tokens(user: $user) { id } }`;
    const before = (await api.ok(admin, TOKENS, { user: "stu-c" })).tokens.length;
    const made = (await api.ok(instructor, MANY, { course: "os101", users: ["stu-c", "stu-d"] })).createCourseTokens;
    expect(made.tokens.map((t: { user: { name: string } }) => t.user.name)).toEqual(["stu-c", "stu-d"]);
    for (const t of made.tokens) expect((await api.ok(t.token, "{ viewer { name } }")).viewer.name).toBe(t.user.name);
    // ann was made by an admin: refused, and stu-c gets no token from the refused change.
    const refused = (await api.ok(instructor, MANY, { course: "os101", users: ["stu-c", "ann"] })).createCourseTokens;
    expect(refused.__typename).toBe("ValidationError");
    expect(refused.fields[0].field).toBe("users.1");
    expect((await api.ok(admin, TOKENS, { user: "stu-c" })).tokens.length).toBe(before + 1);
  });

  it("an instructor cannot mint for a student who is also in a course they do not teach", async () => {
    const other = await api.login("other-prof");
    await api.ok(admin, CREATE_COURSE, {
      input: { name: "art1", hostAccountPrefix: "t-", instructors: ["other-prof"] },
    });
    await api.ok(other, ENROL, { course: "art1", users: [{ user: "stu-b" }] });
    const mint = await api.ok(instructor, TOKEN, { course: "os101", user: "stu-b" });
    expect(mint.createCourseToken.__typename).toBe("ValidationError");
  });

  it("a course's lab rules are checked with the field named", async () => {
    const bad = await api.ok(instructor, CREATE_LAB, {
      course: "os101",
      input: { name: "Bad Name", timeLimitSeconds: 2, warnAtSeconds: [5] },
    });
    expect(bad.createLab.__typename).toBe("ValidationError");
    expect(bad.createLab.message).toMatch(/name/);
    expect(bad.createLab.message).toMatch(/timeLimitSeconds/);
  });
});

describe("a scheduled lab", () => {
  const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdhb2wtc2NoZWR1bGVkLWxhYi10ZXN0LWtleS0xMjM0";
  let opensAt: Date;
  let students: string[];

  beforeAll(async () => {
    await api.ok(admin, CREATE_COURSE, { input: { name: "sched1", hostAccountPrefix: "t-", instructors: ["prof"] } });
    students = ["sch-a", "sch-b", "sch-c"];
    await api.ok(instructor, ENROL, {
      course: "sched1",
      users: [
        ...students.map((user) => ({ user, hostUser: `t-${user}` })),
        { user: "sch-ta", hostUser: "t-sch-ta", role: "TA" },
      ],
    });
    opensAt = new Date(Math.ceil((Date.now() + 3600_000) / 1000) * 1000);
    const made = await api.ok(instructor, CREATE_LAB, {
      course: "sched1",
      input: { name: "exam", timeLimitSeconds: 1800, opensAt: opensAt.toISOString(), prestartSeconds: 300 },
    });
    expect(made.createLab.__typename).toBe("CreateLabPayload");
  });

  it("takes no machines before its machines are booted, and says when", async () => {
    const token = await courseToken("sched1", "sch-a");
    const { startLab } = await api.ok(token, START_LAB, { course: "sched1", lab: "exam" });
    expect(startLab.__typename).toBe("LabNotOpenError");
    expect(startLab.message).toContain(`opens at ${opensAt.toISOString()}`);
    expect(await prestartLabs(api.database.db, new Date(opensAt.getTime() - 301_000))).toEqual([]);
  });

  it("boots every student's machine before it opens, once, leases running from the opening", async () => {
    const passes = await prestartLabs(api.database.db, new Date(opensAt.getTime() - 299_000));
    expect(passes).toEqual([{ lab: "sched1/exam", started: students, failed: [] }]);
    expect(await prestartLabs(api.database.db, new Date(opensAt.getTime() - 200_000))).toEqual([]);

    const ta = await courseToken("sched1", "sch-ta");
    const { course } = await api.ok(ta, COURSE_MACHINES, { name: "sched1" });
    expect(names(course)).toEqual(students.map((s) => `${s}/exam`));

    // The student's own start finds that machine, lets their key in, and ends when the lab says.
    const token = await courseToken("sched1", "sch-b");
    const started = (
      await api.ok(
        token,
        `mutation ($keys: [String!]) { startLab(course: "sched1", lab: "exam", sshPublicKeys: $keys) {
          __typename ... on StartLabPayload { machine { id name expiresAt sshPublicKeys } } ... on Error { message } } }`,
        { keys: [KEY] },
      )
    ).startLab;
    expect(started.__typename).toBe("StartLabPayload");
    expect(started.machine.sshPublicKeys).toEqual([KEY]);
    expect(Date.parse(started.machine.expiresAt)).toBe(opensAt.getTime() + 1800_000);
    const again = (await api.ok(token, START_LAB, { course: "sched1", lab: "exam" })).startLab;
    expect(again.machine.id).toBe(started.machine.id);

    const audit = await api.ok(
      admin,
      `{ auditLog(first: 100, action: MACHINE_PROVISION) { edges { node { userName targetName } } } }`,
    );
    const byGaol = audit.auditLog.edges.filter((e: { node: { userName: string } }) => e.node.userName === "gaol");
    expect(byGaol).toHaveLength(students.length);
  });

  it("refuses an opening in the past, with the field named", async () => {
    const bad = await api.ok(instructor, CREATE_LAB, {
      course: "sched1",
      input: { name: "late", timeLimitSeconds: 60, opensAt: new Date(Date.now() - 1000).toISOString() },
    });
    expect(bad.createLab.__typename).toBe("ValidationError");
    expect(bad.createLab.message).toMatch(/opensAt: must be in the future/);
  });
});

describe("a lab's check", () => {
  const RUN = `mutation ($course: String!, $lab: String!) { runLabCheck(course: $course, lab: $lab) {
    __typename ... on RunLabCheckPayload { check { id } } ... on Error { message } } }`;
  const CHECK = `query ($id: ID!) { labCheck(id: $id) { done requestedBy results { owner machineName state exitCode output } } }`;
  const PENDING = `query ($id: ID!) { machine(id: $id) { pendingCheck { id script timeoutSeconds } } }`;
  const REPORT = `mutation ($checkId: ID!, $machineId: ID!, $exitCode: Int, $output: String!, $error: String) {
    reportLabCheckResult(checkId: $checkId, machineId: $machineId, exitCode: $exitCode, output: $output, error: $error) }`;
  let ready: string;
  let ta: string;
  let student: string;

  beforeAll(async () => {
    await api.ok(admin, CREATE_COURSE, { input: { name: "chk1", hostAccountPrefix: "t-", instructors: ["prof"] } });
    await api.ok(instructor, ENROL, {
      course: "chk1",
      users: [
        { user: "chk-a", hostUser: "t-chk-a" },
        { user: "chk-b", hostUser: "t-chk-b" },
        { user: "chk-ta", hostUser: "t-chk-ta", role: "TA" },
      ],
    });
    await api.ok(instructor, CREATE_LAB, {
      course: "chk1",
      input: { name: "hw", timeLimitSeconds: 3600, checkScript: "test -f /root/done", checkTimeoutSeconds: 20 },
    });
    student = await courseToken("chk1", "chk-a");
    ta = await courseToken("chk1", "chk-ta");
    ready = (await api.ok(student, START_LAB, { course: "chk1", lab: "hw" })).startLab.machine.id;
    for (const state of ["PROVISIONING", "BOOTING", "READY"]) await report(ready, "MachineStateChanged", { state });
    const other = await courseToken("chk1", "chk-b");
    await api.ok(other, START_LAB, { course: "chk1", lab: "hw" });
    // The TA's own lab machine is no student's work: the check leaves it out.
    await api.ok(ta, START_LAB, { course: "chk1", lab: "hw" });
  });

  it("runs for staff only, in READY machines, and says why the others were not checked", async () => {
    expect((await api.ok(student, RUN, { course: "chk1", lab: "hw" })).runLabCheck.__typename).toBe("NotFoundError");
    const noScript = await api.ok(instructor, RUN, { course: "os101", lab: "shell" });
    expect(noScript.runLabCheck.message).toMatch(/shell has no check script/);

    const { runLabCheck } = await api.ok(ta, RUN, { course: "chk1", lab: "hw" });
    expect(runLabCheck.__typename).toBe("RunLabCheckPayload");
    const check = (await api.ok(ta, CHECK, { id: runLabCheck.check.id })).labCheck;
    expect(check).toMatchObject({ done: false, requestedBy: "chk-ta" });
    expect(check.results).toEqual([
      { owner: "chk-a", machineName: "hw", state: "PENDING", exitCode: null, output: null },
      {
        owner: "chk-b",
        machineName: "hw",
        state: "ERROR",
        exitCode: null,
        output: "not run: the machine is PENDING, not READY",
      },
    ]);
    expect((await api.ok(student, CHECK, { id: runLabCheck.check.id })).labCheck).toBeNull();

    // The host sees the script; the student whose machine it is does not.
    expect((await api.ok(agent, PENDING, { id: ready })).machine.pendingCheck).toEqual({
      id: runLabCheck.check.id,
      script: "test -f /root/done",
      timeoutSeconds: 20,
    });
    expect((await api.ok(student, PENDING, { id: ready })).machine.pendingCheck).toBeNull();
    const labs = await api.ok(student, `{ course(name: "chk1") { labs { checkScript } } }`);
    expect(labs.course.labs).toEqual([{ checkScript: null }]);

    // Another host's agent cannot answer for it; the machine's own host answers once.
    const stranger = await api.login("chk-other-host", "AGENT", { hostMemoryMiB: 0 });
    const vars = { checkId: runLabCheck.check.id, machineId: ready, exitCode: 1, output: "no /root/done" };
    expect((await api.ok(stranger, REPORT, { ...vars, exitCode: 0 })).reportLabCheckResult).toBe(false);
    expect((await api.ok(agent, REPORT, vars)).reportLabCheckResult).toBe(true);
    expect((await api.ok(agent, REPORT, { ...vars, exitCode: 0 })).reportLabCheckResult).toBe(false);
    const after = (await api.ok(ta, CHECK, { id: runLabCheck.check.id })).labCheck;
    expect(after.done).toBe(true);
    expect(after.results[0]).toMatchObject({ state: "FAILED", exitCode: 1, output: "no /root/done" });
    expect((await api.ok(agent, PENDING, { id: ready })).machine.pendingCheck).toBeNull();
  });

  it("refuses a student's report and keeps an error's reason", async () => {
    const { runLabCheck } = await api.ok(instructor, RUN, { course: "chk1", lab: "hw" });
    const vars = { checkId: runLabCheck.check.id, machineId: ready, output: "", error: "timed out after 20 s" };
    const { errors } = await api.gql(student, REPORT, vars);
    expect(errors?.[0]?.message).toMatch(/Not authorized/);
    expect((await api.ok(agent, REPORT, vars)).reportLabCheckResult).toBe(true);
    const check = (await api.ok(instructor, CHECK, { id: runLabCheck.check.id })).labCheck;
    expect(check.results[0]).toMatchObject({ state: "ERROR", exitCode: null, output: "timed out after 20 s" });
  });
});

describe("resetting a lab machine", () => {
  const RESET = `mutation ($id: ID!) { resetMachine(id: $id) {
    __typename ... on ResetMachinePayload { machine { rebootGeneration resetGeneration } } ... on Error { message } } }`;

  it("is the owner's and the staff's, for a running machine, a reboot marked as a reset", async () => {
    await api.ok(admin, CREATE_COURSE, { input: { name: "rst1", hostAccountPrefix: "t-", instructors: ["prof"] } });
    await api.ok(instructor, ENROL, {
      course: "rst1",
      users: [
        { user: "rst-a", hostUser: "t-rst-a" },
        { user: "rst-ta", hostUser: "t-rst-ta", role: "TA" },
      ],
    });
    await api.ok(instructor, CREATE_LAB, { course: "rst1", input: { name: "box", timeLimitSeconds: 3600 } });
    const student = await courseToken("rst1", "rst-a");
    const ta = await courseToken("rst1", "rst-ta");
    const id = (await api.ok(student, START_LAB, { course: "rst1", lab: "box" })).startLab.machine.id;

    expect((await api.ok(student, RESET, { id })).resetMachine).toMatchObject({
      __typename: "InvalidStateError",
      message: expect.stringMatching(/PENDING/),
    });
    for (const state of ["PROVISIONING", "BOOTING", "READY"]) await report(id, "MachineStateChanged", { state });
    expect((await api.ok(student, RESET, { id })).resetMachine.machine).toEqual({
      rebootGeneration: 1,
      resetGeneration: 1,
    });
    expect((await api.ok(ta, RESET, { id })).resetMachine.machine).toEqual({ rebootGeneration: 2, resetGeneration: 2 });
    expect((await api.ok(outsider, RESET, { id })).resetMachine.__typename).toBe("NotFoundError");
    // Staff reset, but never let a key of theirs in: it would log them in as the student, home and all.
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRhLXNob3VsZC1uZXZlci1nZXQtaW4tYXMtc3R1ZGVudA==";
    const letIn = `mutation ($id: ID!, $k: [String!]!) { addMachineSshKeys(id: $id, sshPublicKeys: $k) { __typename } }`;
    expect((await api.ok(ta, letIn, { id, k: [key] })).addMachineSshKeys.__typename).toBe("NotFoundError");
    expect((await api.ok(student, letIn, { id, k: [key] })).addMachineSshKeys.__typename).toBe(
      "AddMachineSshKeysPayload",
    );
    const plain = await api.ok(
      student,
      `mutation ($id: ID!) { rebootMachine(id: $id) { ... on RebootMachinePayload { machine { rebootGeneration resetGeneration } } } }`,
      { id },
    );
    expect(plain.rebootMachine.machine).toEqual({ rebootGeneration: 3, resetGeneration: 2 });
  });
});

describe("an idle lab machine", () => {
  const ACTIVITY = `mutation ($activity: [MachineActivityInput!]!) { reportMachineActivity(activity: $activity) }`;
  const SEEN = `query ($id: ID!) { machine(id: $id) { state desiredState stateReason readyAt lastActivityAt lastActivityKind } }`;

  it("is ended after its idle limit since the host last saw it used, and not before", async () => {
    await api.ok(admin, CREATE_COURSE, { input: { name: "idle1", hostAccountPrefix: "t-", instructors: ["prof"] } });
    await api.ok(instructor, ENROL, { course: "idle1", users: [{ user: "idle-a", hostUser: "t-idle-a" }] });
    await api.ok(instructor, CREATE_LAB, {
      course: "idle1",
      input: { name: "quiet", timeLimitSeconds: 7200, idleLimitSeconds: 600 },
    });
    const student = await courseToken("idle1", "idle-a");
    const id = (await api.ok(student, START_LAB, { course: "idle1", lab: "quiet" })).startLab.machine.id;
    for (const state of ["PROVISIONING", "BOOTING", "READY"]) await report(id, "MachineStateChanged", { state });
    const { readyAt } = (await api.ok(student, SEEN, { id })).machine;
    const at = (seconds: number) => new Date(Date.parse(readyAt) + seconds * 1000);

    expect((await keepLeases(api.database.db, at(599))).idled).toEqual([]);
    // Seen used just now: its idle time runs from there. A stranger host's word does not count.
    const seenAt = new Date();
    const used = { machineId: id, at: seenAt.toISOString(), kind: "NETWORK" };
    const stranger = await api.login("idle-other-host", "AGENT", { hostMemoryMiB: 0 });
    expect((await api.ok(stranger, ACTIVITY, { activity: [used] })).reportMachineActivity).toBe(0);
    expect((await api.ok(agent, ACTIVITY, { activity: [used] })).reportMachineActivity).toBe(1);
    // Never backwards, and never past now.
    const earlier = { ...used, at: new Date(seenAt.getTime() - 60_000).toISOString(), kind: "CPU" };
    expect((await api.ok(agent, ACTIVITY, { activity: [earlier] })).reportMachineActivity).toBe(0);
    const seen = (await api.ok(student, SEEN, { id })).machine;
    expect(seen).toMatchObject({ lastActivityAt: seenAt.toISOString(), lastActivityKind: "NETWORK" });
    const future = { ...used, at: new Date(Date.now() + 3600_000).toISOString() };
    await api.ok(agent, ACTIVITY, { activity: [future] });
    const clamped = Date.parse((await api.ok(student, SEEN, { id })).machine.lastActivityAt);
    expect(clamped).toBeLessThanOrEqual(Date.now());

    const sinceSeen = (seconds: number) => new Date(clamped + seconds * 1000);
    expect((await keepLeases(api.database.db, sinceSeen(599))).idled).toEqual([]);
    expect((await keepLeases(api.database.db, sinceSeen(600))).idled).toEqual([rowId(id)]);
    expect((await api.ok(student, SEEN, { id })).machine).toMatchObject({
      state: "STOPPING",
      desiredState: "DESTROYED",
      stateReason: idleEnded(600),
    });
    expect(idleEnded(600)).toBe("idle for 10 minutes: the host saw no use of it (your home directory is kept)");
  });
});
