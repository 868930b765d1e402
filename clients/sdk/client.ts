import { type ImageEvent, imageEvents, type MachineEvent, machineEvents } from "./events.js";
import {
  AddMachineSshKeysDocument,
  type AuditAction,
  AuditLogDocument,
  CordonHostDocument,
  CourseDocument,
  CourseMachinesDocument,
  CoursesDocument,
  CreateCourseDocument,
  type CreateCourseInput,
  CreateCourseTokenDocument,
  CreateCourseTokensDocument,
  CreateLabDocument,
  type CreateLabInput,
  CreateTokenDocument,
  type CreateTokenInput,
  DestroyMachineDocument,
  EnrolInCourseDocument,
  type EnrolmentInput,
  ExtendMachineDocument,
  HostsDocument,
  ImagesDocument,
  LabCheckDocument,
  MachineDocument,
  type MachineFieldsFragment,
  MachineLogDocument,
  MachinesDocument,
  ProvisionMachineDocument,
  type ProvisionMachineInput,
  RebootMachineDocument,
  ResetMachineDocument,
  RevokeTokenDocument,
  RunLabCheckDocument,
  ShareMachineScreenDocument,
  type SshHostKeyFieldsFragment,
  StartLabDocument,
  SyncImageDocument,
  type SyncImageInput,
  TokensDocument,
  ViewerDocument,
} from "./generated.js";
import { ApiError, type Endpoint, payloadOf, request } from "./request.js";

export type Machine = MachineFieldsFragment;

export interface ReadyMachine {
  machine: Machine;
  ip: string;
  port: number;
  hostKeys: SshHostKeyFieldsFragment[];
}

/** The machine went FAILED: why, and what its console said last. */
export class MachineFailedError extends ApiError {
  override name = "MachineFailedError";
  constructor(
    readonly machineId: string,
    readonly reason: string,
    readonly lastConsoleLines: readonly string[],
  ) {
    super(`the machine failed: ${reason}`, "MachineFailed");
  }
}

/** gaol's api for portals, IDE plugins and scripts; typed from schema/schema.graphql. */
export class GaolClient {
  constructor(readonly endpoint: Endpoint) {}

  async viewer() {
    return (await request(this.endpoint, ViewerDocument)).viewer;
  }

  /** Every machine the viewer may see (an admin: everyone's), newest first. */
  async machines(): Promise<Machine[]> {
    const machines: Machine[] = [];
    let after: string | null | undefined;
    do {
      const page = (await request(this.endpoint, MachinesDocument, { first: 100, after })).machines;
      machines.push(...page.edges.map((edge) => edge.node));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after);
    return machines;
  }

  async machine(id: string): Promise<Machine | null> {
    return (await request(this.endpoint, MachineDocument, { id })).machine;
  }

  /** A new machine; its typed errors (ValidationError, QuotaExceededError, …) are thrown as ApiErrors. */
  async provision(input: ProvisionMachineInput = {}): Promise<Machine> {
    const { provisionMachine } = await request(this.endpoint, ProvisionMachineDocument, { input });
    return payloadOf(provisionMachine, "ProvisionMachinePayload").machine;
  }

  /** Asks for the machine's end; idempotent. `waitForState(id, "DESTROYED")` waits for it. */
  async destroy(id: string): Promise<Machine> {
    const { destroyMachine } = await request(this.endpoint, DestroyMachineDocument, { id });
    return payloadOf(destroyMachine, "DestroyMachinePayload").machine;
  }

  /** The owner lets their course's staff type in the machine's terminal and desktop (false: watch only). */
  async shareScreen(id: string, shared: boolean): Promise<Machine> {
    const { shareMachineScreen } = await request(this.endpoint, ShareMachineScreenDocument, { id, shared });
    return payloadOf(shareMachineScreen, "ShareMachineScreenPayload").machine;
  }

  /** Keys that may log in as root and the owner, added without a reboot. */
  async addSshKeys(id: string, sshPublicKeys: string[]): Promise<Machine> {
    const { addMachineSshKeys } = await request(this.endpoint, AddMachineSshKeysDocument, { id, sshPublicKeys });
    return payloadOf(addMachineSshKeys, "AddMachineSshKeysPayload").machine;
  }

  async reboot(id: string): Promise<Machine> {
    const { rebootMachine } = await request(this.endpoint, RebootMachineDocument, { id });
    return payloadOf(rebootMachine, "RebootMachinePayload").machine;
  }

  /** A new boot on a new root disk from its image (a lab's starter); the home directory stays. */
  async reset(id: string): Promise<Machine> {
    const { resetMachine } = await request(this.endpoint, ResetMachineDocument, { id });
    return payloadOf(resetMachine, "ResetMachinePayload").machine;
  }

  async images() {
    return (await request(this.endpoint, ImagesDocument)).images;
  }

  /** ADMIN: rsync the image's master from source on every host and build a new version (returns the request). */
  async syncImage(input: SyncImageInput) {
    const { syncImage } = await request(this.endpoint, SyncImageDocument, { input });
    return payloadOf(syncImage, "SyncImagePayload");
  }

  /** An image's sync events, replayed then live; resumes by cursor across dropped connections. */
  imageEvents(name: string, after?: string): AsyncGenerator<ImageEvent> {
    return imageEvents(this.endpoint, name, after);
  }

  /** ADMIN: the hosts, their capacity and last heartbeat. */
  async hosts() {
    return (await request(this.endpoint, HostsDocument)).hosts;
  }

  /** ADMIN: no new machines on the host (cordoned false: open again); its machines keep running. */
  async cordonHost(name: string, cordoned = true) {
    const { cordonHost } = await request(this.endpoint, CordonHostDocument, { name, cordoned });
    return payloadOf(cordonHost, "CordonHostPayload").host;
  }

  /** ADMIN: a new token for a user (made if missing); `token` is the secret, shown this once. */
  async createToken(input: CreateTokenInput) {
    const { createToken } = await request(this.endpoint, CreateTokenDocument, { input });
    return payloadOf(createToken, "CreateTokenPayload");
  }

  /** Your tokens, newest first (an admin: everyone's, or `user`'s); never their secrets. */
  async tokens(user?: string) {
    return (await request(this.endpoint, TokensDocument, { user })).tokens;
  }

  /** Stops a token working at once (an admin: any token; anyone else: their own). */
  async revokeToken(id: string) {
    const { revokeToken } = await request(this.endpoint, RevokeTokenDocument, { id });
    return payloadOf(revokeToken, "RevokeTokenPayload").token;
  }

  /** ADMIN: a page of the audit log, newest first; pass `endCursor` as `after` for the next. */
  async auditLog(options: { first?: number; after?: string; user?: string; action?: AuditAction } = {}) {
    const { auditLog } = await request(this.endpoint, AuditLogDocument, options);
    return { entries: auditLog.edges.map((edge) => edge.node), ...auditLog.pageInfo };
  }

  /** Your courses (an admin: every course), each with its labs and your role in it. */
  async courses() {
    return (await request(this.endpoint, CoursesDocument)).courses;
  }

  /** A course you are in, with its members (a student sees the staff), or null. */
  async course(name: string) {
    return (await request(this.endpoint, CourseDocument, { name })).course;
  }

  /** The course's lab machines, newest first: staff get everyone's, a student their own. */
  async courseMachines(name: string, { live = true }: { live?: boolean } = {}): Promise<Machine[]> {
    const machines: Machine[] = [];
    let after: string | null | undefined;
    do {
      const course = (await request(this.endpoint, CourseMachinesDocument, { name, first: 100, after, live })).course;
      if (!course) throw new ApiError(`you are in no course named ${name}`, "NotFoundError");
      machines.push(...course.machines.edges.map((edge) => edge.node));
      after = course.machines.pageInfo.hasNextPage ? course.machines.pageInfo.endCursor : undefined;
    } while (after);
    return machines;
  }

  /** ADMIN: a new course and its first instructors. */
  async createCourse(input: CreateCourseInput) {
    const { createCourse } = await request(this.endpoint, CreateCourseDocument, { input });
    return payloadOf(createCourse, "CreateCoursePayload").course;
  }

  /** The course's instructor: enrols users (made, with their host account, if missing). */
  async enrol(course: string, users: EnrolmentInput[]) {
    const { enrolInCourse } = await request(this.endpoint, EnrolInCourseDocument, { course, users });
    return payloadOf(enrolInCourse, "EnrolInCoursePayload").enrolled;
  }

  /** The course's instructor: a token for a member the course enrolled; `token` is shown this once. */
  async createCourseToken(course: string, user: string, expiresInSeconds?: number) {
    const { createCourseToken } = await request(this.endpoint, CreateCourseTokenDocument, {
      course,
      user,
      expiresInSeconds,
    });
    return payloadOf(createCourseToken, "CreateCourseTokenPayload");
  }

  /** The course's instructor: tokens for many members in one change, all or none; each shown this once. */
  async createCourseTokens(course: string, users: string[], expiresInSeconds?: number) {
    const { createCourseTokens } = await request(this.endpoint, CreateCourseTokensDocument, {
      course,
      users,
      expiresInSeconds,
    });
    return payloadOf(createCourseTokens, "CreateCourseTokensPayload").tokens;
  }

  /** The course's instructor: a lab, its starter image and time limit. */
  async createLab(course: string, input: CreateLabInput) {
    const { createLab } = await request(this.endpoint, CreateLabDocument, { course, input });
    return payloadOf(createLab, "CreateLabPayload").lab;
  }

  /** Your machine for a lab: the lab's image, memory and lease. */
  async startLab(course: string, lab: string, options: { name?: string; sshPublicKeys?: string[] } = {}) {
    const { startLab } = await request(this.endpoint, StartLabDocument, { course, lab, ...options });
    return payloadOf(startLab, "StartLabPayload").machine;
  }

  /** Course staff: runs the lab's check in each of its live machines; poll labCheck(id) until `done`. */
  async runLabCheck(course: string, lab: string) {
    const { runLabCheck } = await request(this.endpoint, RunLabCheckDocument, { course, lab });
    return payloadOf(runLabCheck, "RunLabCheckPayload").check;
  }

  /** A check run's results so far (null when it is not yours to see). */
  async labCheck(id: string) {
    return (await request(this.endpoint, LabCheckDocument, { id })).labCheck;
  }

  /** Moves a lab machine's end later, within its lab's cap (ExtensionRefusedError beyond it). */
  async extend(id: string, seconds: number): Promise<Machine> {
    const { extendMachine } = await request(this.endpoint, ExtendMachineDocument, { id, seconds });
    return payloadOf(extendMachine, "ExtendMachinePayload").machine;
  }

  /** The stored events (the whole boot log) after a cursor, oldest first. */
  async log(id: string, after?: string): Promise<MachineEvent[]> {
    const data = await request(this.endpoint, MachineLogDocument, { id, after, first: 5000 });
    if (!data.machine) throw new ApiError(`no machine ${id}`, "NotFoundError");
    return data.machine.events;
  }

  /** The machine's events, replayed then live; resumes by cursor across dropped connections. */
  events(id: string, after?: string): AsyncGenerator<MachineEvent> {
    return machineEvents(this.endpoint, id, after);
  }

  /** Waits until the machine is READY: its address, ssh port and the host keys the agent verified. */
  async waitForReady(id: string, { timeoutMs = 60_000 }: { timeoutMs?: number } = {}): Promise<ReadyMachine> {
    let ssh: { ip: string; port: number; hostKeys: SshHostKeyFieldsFragment[] } | undefined;
    let ready = false;
    await this.until(id, timeoutMs, "READY", (event) => {
      if (event.__typename === "SshReady") ssh = { ip: event.ip, port: event.port, hostKeys: event.hostKeys };
      if (event.__typename === "MachineStateChanged") ready = event.state === "READY";
      return ready && ssh !== undefined;
    });
    const machine = await this.machine(id);
    if (!machine || !ssh) throw new ApiError(`machine ${id} vanished`, "NotFoundError");
    return { machine, ...ssh };
  }

  /** Waits for a state (DESTROYED after destroy, say); FAILED on the way throws MachineFailedError. */
  async waitForState(id: string, state: Machine["state"], { timeoutMs = 60_000 }: { timeoutMs?: number } = {}) {
    await this.until(id, timeoutMs, state, (e) => e.__typename === "MachineStateChanged" && e.state === state);
  }

  private async until(id: string, timeoutMs: number, goal: string, done: (e: MachineEvent) => boolean) {
    const events = this.events(id);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ApiError(`machine ${id} was not ${goal} within ${timeoutMs / 1000} s`, "Timeout")),
        timeoutMs,
      );
    });
    try {
      for (;;) {
        const next = await Promise.race([events.next(), timeout]);
        if (next.done) throw new ApiError(`the event stream of ${id} ended before ${goal}`);
        const event = next.value;
        if (done(event)) return;
        // A FAILED machine on its way to DESTROYED (gaol rm of a failed one) is what was asked for.
        if (
          event.__typename === "MachineStateChanged" &&
          event.state === "FAILED" &&
          goal !== "FAILED" &&
          goal !== "DESTROYED"
        )
          throw new MachineFailedError(id, event.reason ?? "unknown", event.lastConsoleLines);
        if (event.__typename === "MachineStateChanged" && event.state === "DESTROYED" && goal !== "DESTROYED")
          throw new ApiError(`machine ${id} was destroyed before ${goal}`, "InvalidStateError");
      }
    } finally {
      clearTimeout(timer);
      void events.return(undefined);
    }
  }
}
