import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import {
  type ActivityKind,
  type AuditAction,
  COURSE_ROLES,
  DEFAULT_LEASE_WARNINGS,
  DEFAULT_QUOTA,
  DESIRED_STATES,
  LAB_CHECK_STATES,
  type LimitRequest,
  MACHINE_HEALTH,
  MACHINE_STATES,
  type SshHostKey,
} from "../core/index.js";

export const roleEnum = pgEnum("role", ["ADMIN", "USER", "AGENT"]);
export const machineStateEnum = pgEnum("machine_state", MACHINE_STATES);
export const desiredStateEnum = pgEnum("desired_state", DESIRED_STATES);
export const machineHealthEnum = pgEnum("machine_health", MACHINE_HEALTH);
export const courseRoleEnum = pgEnum("course_role", COURSE_ROLES);
export const labCheckStateEnum = pgEnum("lab_check_state", LAB_CHECK_STATES);

const created = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

export const users = pgTable("users", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().unique(),
  role: roleEnum("role").notNull().default("USER"),
  /** The host account the user's machines run as. */
  hostUser: text("host_user"),
  maxMachines: integer("max_machines").notNull().default(DEFAULT_QUOTA.maxMachines),
  maxMemoryMiB: integer("max_memory_mib").notNull().default(DEFAULT_QUOTA.maxMemoryMiB),
  /** The course whose enrolment made this user: its instructors may mint the user's tokens. */
  enrolledVia: uuid("enrolled_via").references((): AnyPgColumn => courses.id, { onDelete: "set null" }),
  createdAt: created(),
});

export const apiTokens = pgTable(
  "api_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** sha256 of the token: the token itself is shown once and never stored. */
    hash: text("hash").notNull().unique(),
    /** The token's first characters, to tell tokens apart in a listing (old tokens get it on first use). */
    prefix: text("prefix"),
    createdAt: created(),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    /** Updated at most once a minute: a write per request would cost more than the request. */
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (t) => [index("api_tokens_user").on(t.userId)],
);

export const hosts = pgTable("hosts", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().unique(),
  /** The AGENT user whose tokens speak for this host. */
  agentUserId: uuid("agent_user_id")
    .notNull()
    .unique()
    .references(() => users.id, { onDelete: "cascade" }),
  memoryMiB: integer("memory_mib").notNull().default(0),
  maxMachines: integer("max_machines").notNull().default(0),
  /** Free MiB on the host's GAOL_ROOT at its last heartbeat; null: its agent does not say. */
  rootFreeMiB: integer("root_free_mib"),
  lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true }),
  /** Cordoned by an admin: its machines keep running, and no new one is placed here. */
  cordonedAt: timestamp("cordoned_at", { withTimezone: true }),
  /** Since when its agent has been silent too long (its machines LOST); null: heard from in time. */
  downSince: timestamp("down_since", { withTimezone: true }),
  createdAt: created(),
});

export const images = pgTable("images", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().unique(),
  description: text("description"),
  /** Where syncs rsync the master from (local directory, rsync:// or host:path). */
  source: text("source"),
  /** Scheduled syncs: a new sync when the last one is this old. */
  syncIntervalSeconds: integer("sync_interval_seconds"),
  lastSyncedAt: timestamp("last_synced_at", { withTimezone: true }),
  /** The last image event sequence number handed out. */
  lastEventSeq: integer("last_event_seq").notNull().default(0),
  createdAt: created(),
});

export const syncStateEnum = pgEnum("sync_state", ["PENDING", "SUCCEEDED", "FAILED"]);

/** A request to rsync an image's master and build a version numbered in advance. */
export const imageSyncs = pgTable(
  "image_syncs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    source: text("source").notNull(),
    /** The version this sync builds on every host. */
    version: integer("version").notNull(),
    state: syncStateEnum("state").notNull().default("PENDING"),
    error: text("error"),
    createdAt: created(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [uniqueIndex("image_syncs_image_version").on(t.imageId, t.version)],
);

/** Which host holds which built version of an image. */
export const hostImages = pgTable(
  "host_images",
  {
    hostId: uuid("host_id")
      .notNull()
      .references(() => hosts.id, { onDelete: "cascade" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    createdAt: created(),
  },
  (t) => [uniqueIndex("host_images_key").on(t.hostId, t.imageId, t.version)],
);

export const imageEvents = pgTable(
  "image_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    kind: text("kind").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("image_events_seq").on(t.imageId, t.seq)],
);

export const imageVersions = pgTable(
  "image_versions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }),
    /** The rsync source it was synced from (absent: built by host setup). */
    source: text("source"),
    createdAt: created(),
  },
  (t) => [uniqueIndex("image_versions_image_version").on(t.imageId, t.version)],
);

/** A class: its staff and students, its labs, and budgets its labs' machines share. */
export const courses = pgTable("courses", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().unique(),
  title: text("title"),
  /** Budgets for the course's live lab machines, all students together (null: none). */
  maxMachines: integer("max_machines"),
  maxMemoryMiB: integer("max_memory_mib"),
  /** Each student's share of the course at once (null: none beyond the lab's one per student). */
  studentMaxMachines: integer("student_max_machines"),
  /** Host accounts the course's instructors may map start with this; null: only admins map them. */
  hostAccountPrefix: text("host_account_prefix"),
  createdAt: created(),
});

export const courseMembers = pgTable(
  "course_members",
  {
    courseId: uuid("course_id")
      .notNull()
      .references(() => courses.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: courseRoleEnum("role").notNull().default("STUDENT"),
    createdAt: created(),
  },
  (t) => [uniqueIndex("course_members_key").on(t.courseId, t.userId), index("course_members_user").on(t.userId)],
);

/** A course's starter environment and its rules: the image, the memory, how long a machine lives. */
export const labs = pgTable(
  "labs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    courseId: uuid("course_id")
      .notNull()
      .references(() => courses.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id),
    imageVersion: integer("image_version"),
    memoryMiB: integer("memory_mib").notNull(),
    timeLimitSeconds: integer("time_limit_seconds").notNull(),
    /** How much later than its first end a machine may be extended to, in all. */
    maxExtensionSeconds: integer("max_extension_seconds").notNull().default(0),
    /** Seconds before the end at which a MachineExpiring warning is sent. */
    warnAtSeconds: jsonb("warn_at_seconds")
      .$type<number[]>()
      .notNull()
      .default([...DEFAULT_LEASE_WARNINGS]),
    machinesPerStudent: integer("machines_per_student").notNull().default(1),
    /** A scheduled lab's start: its machines' leases run from here, and they are booted before it. */
    opensAt: timestamp("opens_at", { withTimezone: true }),
    /** How long before opensAt the enrolled students' machines are booted. */
    prestartSeconds: integer("prestart_seconds").notNull().default(120),
    /** When the students' machines were booted for opensAt (once: a pass that finds it set does nothing). */
    prestartedAt: timestamp("prestarted_at", { withTimezone: true }),
    /** A script run as root in each student's machine by `runLabCheck`; exit 0 passes. */
    checkScript: text("check_script"),
    checkTimeoutSeconds: integer("check_timeout_seconds").notNull().default(30),
    /** A READY machine the host saw no use of for this long is ended like its lease (null: never). */
    idleLimitSeconds: integer("idle_limit_seconds"),
    createdAt: created(),
  },
  (t) => [uniqueIndex("labs_course_name").on(t.courseId, t.name)],
);

/** One run of a lab's check across its live machines, asked by course staff. */
export const labChecks = pgTable(
  "lab_checks",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    labId: uuid("lab_id")
      .notNull()
      .references(() => labs.id, { onDelete: "cascade" }),
    /** The script as it was when the run was asked: a later edit does not change a run's meaning. */
    script: text("script").notNull(),
    timeoutSeconds: integer("timeout_seconds").notNull(),
    requestedBy: text("requested_by").notNull(),
    createdAt: created(),
  },
  (t) => [index("lab_checks_lab").on(t.labId, t.createdAt)],
);

/** A check's result on one machine, written by the machine's host. */
export const labCheckResults = pgTable(
  "lab_check_results",
  {
    checkId: uuid("check_id")
      .notNull()
      .references(() => labChecks.id, { onDelete: "cascade" }),
    machineId: uuid("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    state: labCheckStateEnum("state").notNull().default("PENDING"),
    exitCode: integer("exit_code"),
    output: text("output"),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("lab_check_results_key").on(t.checkId, t.machineId),
    index("lab_check_results_pending").on(t.machineId, t.state),
  ],
);

export const machines = pgTable(
  "machines",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id),
    hostId: uuid("host_id").references(() => hosts.id),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id),
    imageVersion: integer("image_version"),
    memoryMiB: integer("memory_mib").notNull(),
    /** Host-side limits asked for at provision (the rest are the defaults, see core/limits.ts). */
    limits: jsonb("limits").$type<LimitRequest>().notNull().default({}),
    sshPublicKeys: jsonb("ssh_public_keys").$type<string[]>().notNull().default([]),
    desiredState: desiredStateEnum("desired_state").notNull().default("RUNNING"),
    /** Raised by rebootMachine; the agent reboots when it differs from what it last acted on. */
    rebootGeneration: integer("reboot_generation").notNull().default(0),
    /** When the host last saw the machine used (its CPU or its traffic past the host's own probes), and how. */
    lastActivityAt: timestamp("last_activity_at", { withTimezone: true }),
    lastActivityKind: text("last_activity_kind").$type<ActivityKind>(),
    /** The reboot generation that also gives the machine a new root disk from its image version (a reset). */
    resetGeneration: integer("reset_generation").notNull().default(0),
    state: machineStateEnum("state").notNull().default("PENDING"),
    stateReason: text("state_reason"),
    ipAddress: text("ip_address"),
    macAddress: text("mac_address"),
    sshHostKeys: jsonb("ssh_host_keys").$type<SshHostKey[]>().notNull().default([]),
    /** Since when the owner lets their course's staff type in the terminal and desktop too; null: staff watch. */
    screenSharedAt: timestamp("screen_shared_at", { withTimezone: true }),
    /** While READY: the host's health probes' verdict (MachineUnresponsive, MachineResponsive), since when, and why. */
    health: machineHealthEnum("health").notNull().default("HEALTHY"),
    healthSince: timestamp("health_since", { withTimezone: true }),
    healthReason: text("health_reason"),
    /** The last event sequence number handed out for this machine. */
    lastEventSeq: integer("last_event_seq").notNull().default(0),
    /** A lab machine's lab and course (course staff see it), and when its lease ends. */
    labId: uuid("lab_id").references(() => labs.id, { onDelete: "set null" }),
    courseId: uuid("course_id").references(() => courses.id, { onDelete: "set null" }),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    extendedSeconds: integer("extended_seconds").notNull().default(0),
    /** How many of the lab's warnings (largest first) have been sent for the current end. */
    leaseWarningsSent: integer("lease_warnings_sent").notNull().default(0),
    createdAt: created(),
    readyAt: timestamp("ready_at", { withTimezone: true }),
    destroyedAt: timestamp("destroyed_at", { withTimezone: true }),
  },
  (t) => [
    // A name is reusable once its machine is destroyed.
    uniqueIndex("machines_owner_live_name").on(t.ownerId, t.name).where(sql`${t.state} <> 'DESTROYED'`),
    index("machines_owner").on(t.ownerId, t.createdAt),
    index("machines_host").on(t.hostId),
    index("machines_course").on(t.courseId),
    index("machines_expires").on(t.expiresAt).where(sql`${t.expiresAt} is not null`),
  ],
);

export const machineEvents = pgTable(
  "machine_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    machineId: uuid("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    /** Per-machine order: the cursor clients resume from. */
    seq: integer("seq").notNull(),
    kind: text("kind").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    /** The reporting agent's own sequence: a retried batch is stored once. */
    agentSeq: bigint("agent_seq", { mode: "number" }),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("machine_events_seq").on(t.machineId, t.seq),
    uniqueIndex("machine_events_agent_seq").on(t.machineId, t.agentSeq),
  ],
);

/** Who changed what, when, and how it went: machines, tokens and image syncs, one row per request. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
    // No foreign keys: an entry outlives its user and token, and its insert takes no lock on their rows.
    userId: uuid("user_id"),
    /** The actor's name when they acted. */
    userName: text("user_name").notNull(),
    tokenId: uuid("token_id"),
    action: text("action").$type<AuditAction>().notNull(),
    targetId: text("target_id"),
    targetName: text("target_name"),
    /** `ok`, or the typed error's name. */
    result: text("result").notNull(),
  },
  (t) => [index("audit_log_user").on(t.userName, t.id), index("audit_log_action").on(t.action, t.id)],
);

/**
 * Keys the api itself holds, shared by its replicas: "terminal" is the ssh identity that bridges
 * the page's terminals and desktops to the machines' sshd (agents put its public half, restricted,
 * in every guest's authorized_keys).
 */
export const serviceKeys = pgTable("service_keys", {
  name: text("name").primaryKey(),
  privateKey: text("private_key").notNull(),
  publicKey: text("public_key").notNull(),
  createdAt: created(),
});
