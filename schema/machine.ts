import { resolveOffsetConnection } from "@pothos/plugin-relay";
import {
  DEFAULT_LIMITS,
  InvalidStateError,
  LIMIT_BOUNDS,
  type MachineLimits,
  machineLimits,
  NotFoundError,
  ValidationError,
} from "../core/index.js";
import { hostById } from "../db/queries/hosts.js";
import { imageById } from "../db/queries/images.js";
import { listMachines, type Machine, machineById, machineIdsChangedSince } from "../db/queries/machines.js";
import { userById } from "../db/queries/users.js";
import { endingWith } from "../live/index.js";
import { addSshKeys, destroyMachine, provisionMachine, rebootMachine, resetMachine } from "../services/machines.js";
import { builder } from "./builder.js";
import { actorOf, type Context, canSeeMachine, spendMutation } from "./context.js";
import { limited, MUTATION_ERRORS } from "./errors.js";
import { HostRef } from "./host.js";
import { ImageRef } from "./image.js";
import { UserRef } from "./user.js";
import { DesiredStateEnum, MachineHealthStatusEnum, MachineStateEnum, SshHostKeyRef } from "./vocabulary.js";

/** The machine if it exists and the viewer may see it. */
export async function visibleMachine(ctx: Context, id: string): Promise<Machine | undefined> {
  const machine = await machineById(ctx.db, id);
  return machine && canSeeMachine(ctx, machine) ? machine : undefined;
}

/** Whose machines the viewer sees: an admin everyone's, an agent its host's, a user their own. */
function viewerFilter(ctx: Context): { ownerId?: string; hostId?: string } {
  const viewer = ctx.viewer;
  const role = viewer?.user.role;
  if (role === "ADMIN") return {};
  if (role === "AGENT") return { hostId: viewer?.hostId ?? "00000000-0000-0000-0000-000000000000" };
  return { ownerId: viewer?.user.id };
}

interface Health {
  status: Machine["health"];
  since: Date;
  reason: string | null;
}

const MachineHealthRef = builder.objectRef<Health>("MachineHealth").implement({
  description: "What the host's periodic probe of a READY machine says: does its sshd still prove its host key?",
  fields: (t) => ({
    status: t.field({ type: MachineHealthStatusEnum, resolve: (h) => h.status }),
    since: t.expose("since", {
      type: "DateTime",
      description: "Since the last proof (HEALTHY) or the first failed probe",
    }),
    reason: t.exposeString("reason", { nullable: true, description: "What the last failed probe saw (UNRESPONSIVE)" }),
  }),
});

/** Only a READY machine has a health: before, the boot is still proving it; after, there is no kernel to probe. */
function healthOf(m: Machine): Health | null {
  if (m.state !== "READY") return null;
  return { status: m.health, since: m.healthSince ?? m.readyAt ?? m.createdAt, reason: m.healthReason };
}

export const MachineRef = builder.objectRef<Machine>("Machine");

const MachineLimitsRef = builder.objectRef<MachineLimits>("MachineLimits").implement({
  description: "Host-side limits, enforced by the machine's cgroup; reaching one is a MachineLimitReached event",
  fields: (t) => ({
    memoryMiB: t.exposeInt("memoryMiB", { description: "Host memory: the guest's plus its kernel's own" }),
    processes: t.exposeInt("processes", { description: "Host processes (one per guest address space)" }),
    cpuWeight: t.exposeInt("cpuWeight", { description: "CPU share against other machines (100 is everyone's)" }),
    cpuPercent: t.exposeInt("cpuPercent", { nullable: true, description: "At most this % of one CPU" }),
  }),
});
builder.node(MachineRef, {
  id: { resolve: (m) => m.id },
  loadOne: async (id, ctx) => (await visibleMachine(ctx, id)) ?? null,
  fields: (t) => ({
    name: t.exposeString("name"),
    state: t.field({ type: MachineStateEnum, resolve: (m) => m.state }),
    desiredState: t.field({ type: DesiredStateEnum, resolve: (m) => m.desiredState }),
    resetGeneration: t.exposeInt("resetGeneration", {
      description:
        "The reboot generation that gives it a new root disk (equal to rebootGeneration while a reset is asked or done last)",
    }),
    rebootGeneration: t.exposeInt("rebootGeneration", { description: "Raised by each rebootMachine" }),
    sshPublicKeys: t.exposeStringList("sshPublicKeys", { description: "Keys that may log in as root and the owner" }),
    stateReason: t.exposeString("stateReason", { nullable: true, description: "Why it is in this state (FAILED)" }),
    owner: t.field({ type: UserRef, resolve: async (m, _args, ctx) => (await userById(ctx.db, m.ownerId)) as never }),
    image: t.field({ type: ImageRef, resolve: async (m, _args, ctx) => (await imageById(ctx.db, m.imageId)) as never }),
    imageVersion: t.exposeInt("imageVersion", { nullable: true }),
    host: t.field({
      type: HostRef,
      nullable: true,
      resolve: async (m, _args, ctx) => (m.hostId ? ((await hostById(ctx.db, m.hostId)) ?? null) : null),
    }),
    ipAddress: t.exposeString("ipAddress", { nullable: true }),
    macAddress: t.exposeString("macAddress", { nullable: true }),
    memoryMiB: t.exposeInt("memoryMiB"),
    limits: t.field({
      type: MachineLimitsRef,
      description: "What the machine's host cgroup and jail allow it",
      resolve: (m) => machineLimits(m.memoryMiB, m.limits),
    }),
    sshHostKeys: t.field({ type: [SshHostKeyRef], resolve: (m) => m.sshHostKeys }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    readyAt: t.expose("readyAt", { type: "DateTime", nullable: true }),
    health: t.field({
      type: MachineHealthRef,
      nullable: true,
      description:
        "READY only: UNRESPONSIVE once the host's probes failed several times in a row (rebootMachine usually helps)",
      resolve: healthOf,
    }),
  }),
});

builder.queryField("machine", (t) =>
  t.field({
    type: MachineRef,
    nullable: true,
    authScopes: { loggedIn: true },
    args: { id: t.arg.globalID({ required: true, for: [MachineRef] }) },
    resolve: async (_root, { id }, ctx) => (await visibleMachine(ctx, id.id)) ?? null,
  }),
);

builder.queryField("machines", (t) =>
  t.connection(
    {
      type: MachineRef,
      description: "Your machines (an admin's: everyone's; an agent's: its host's), newest first",
      authScopes: { loggedIn: true },
      args: { live: t.arg.boolean({ required: false, description: "Only machines not DESTROYED" }) },
      resolve: (_root, args, ctx) =>
        resolveOffsetConnection({ args }, ({ offset, limit }) => {
          return listMachines(ctx.db, { ...viewerFilter(ctx), live: args.live ?? false }, offset, limit);
        }),
    },
    { name: "MachineConnection" },
    { name: "MachineEdge" },
  ),
);

const MachineLimitsInput = builder.inputType("MachineLimitsInput", {
  description: "Host-side limits that differ from the defaults (memory follows memoryMiB)",
  fields: (t) => ({
    processes: t.int({
      required: false,
      description: `Host processes, ${LIMIT_BOUNDS.processes.min}–${LIMIT_BOUNDS.processes.max} (default ${DEFAULT_LIMITS.processes})`,
    }),
    cpuWeight: t.int({
      required: false,
      description: `CPU share, ${LIMIT_BOUNDS.cpuWeight.min}–${LIMIT_BOUNDS.cpuWeight.max} (everyone's is ${DEFAULT_LIMITS.cpuWeight})`,
    }),
    cpuPercent: t.int({ required: false, description: "At most this % of one CPU, 1–100 (default: no cap)" }),
  }),
});

const ProvisionMachineInput = builder.inputType("ProvisionMachineInput", {
  fields: (t) => ({
    name: t.string({
      required: false,
      description: "A DNS label: 1–32 of [a-z0-9-], starting and ending with a letter or digit; generated when absent",
    }),
    image: t.string({ required: false, description: "Image name; the default image when absent" }),
    memoryMiB: t.int({ required: false }),
    sshPublicKeys: t.stringList({ required: false, description: "OpenSSH public keys for root and the owner" }),
    imageVersion: t.int({ required: false, description: "A specific version of the image; its default when absent" }),
    limits: t.field({ type: MachineLimitsInput, required: false }),
  }),
});

/** A mutation's payload that holds one machine: `{ machine }`. */
export function payload(name: string) {
  return builder.objectRef<{ machine: Machine }>(name).implement({
    fields: (t) => ({ machine: t.field({ type: MachineRef, resolve: (p) => p.machine }) }),
  });
}

const ProvisionMachinePayload = payload("ProvisionMachinePayload");
const DestroyMachinePayload = payload("DestroyMachinePayload");
const RebootMachinePayload = payload("RebootMachinePayload");

const mayAct = (ctx: Context) => (machine: Machine) => canSeeMachine(ctx, machine);
/**
 * Who may let a key in: the owner or an admin. Course staff see and reset a student's machine,
 * but a key of theirs would log them in as the student, whose host home the machine mounts.
 */
const mayLetIn = (ctx: Context) => (machine: Machine) =>
  ctx.viewer?.user.role === "ADMIN" || machine.ownerId === ctx.viewer?.user.id;

builder.mutationField("provisionMachine", (t) =>
  t.field({
    type: ProvisionMachinePayload,
    authScopes: { user: true },
    args: { input: t.arg({ type: ProvisionMachineInput, required: true }) },
    errors: { types: MUTATION_ERRORS, directResult: true, union: { name: "ProvisionMachineResult" } },
    resolve: async (_root, { input }, ctx) => {
      spendMutation(ctx);
      return { machine: await provisionMachine(ctx.db, actorOf(ctx), ctx.viewer?.user as never, input) };
    },
  }),
);

builder.mutationField("destroyMachine", (t) =>
  t.field({
    type: DestroyMachinePayload,
    description: "Idempotent: destroying a destroyed machine returns it",
    authScopes: { user: true },
    args: { id: t.arg.globalID({ required: true, for: [MachineRef] }) },
    errors: { types: limited(NotFoundError), directResult: true, union: { name: "DestroyMachineResult" } },
    resolve: async (_root, { id }, ctx) => {
      spendMutation(ctx);
      return { machine: await destroyMachine(ctx.db, actorOf(ctx), id.id, mayAct(ctx)) };
    },
  }),
);

builder.mutationField("rebootMachine", (t) =>
  t.field({
    type: RebootMachinePayload,
    authScopes: { user: true },
    args: { id: t.arg.globalID({ required: true, for: [MachineRef] }) },
    errors: {
      types: limited(NotFoundError, InvalidStateError),
      directResult: true,
      union: { name: "RebootMachineResult" },
    },
    resolve: async (_root, { id }, ctx) => {
      spendMutation(ctx);
      return { machine: await rebootMachine(ctx.db, actorOf(ctx), id.id, mayAct(ctx)) };
    },
  }),
);

builder.mutationField("resetMachine", (t) =>
  t.field({
    type: payload("ResetMachinePayload"),
    description:
      "A new boot on a new root disk from the machine's image (a lab's starter): what was installed is gone; the home directory, address and host key stay",
    authScopes: { user: true },
    args: { id: t.arg.globalID({ required: true, for: [MachineRef] }) },
    errors: {
      types: limited(NotFoundError, InvalidStateError),
      directResult: true,
      union: { name: "ResetMachineResult" },
    },
    resolve: async (_root, { id }, ctx) => {
      spendMutation(ctx);
      return { machine: await resetMachine(ctx.db, actorOf(ctx), id.id, mayAct(ctx)) };
    },
  }),
);

const AddMachineSshKeysPayload = payload("AddMachineSshKeysPayload");

builder.mutationField("addMachineSshKeys", (t) =>
  t.field({
    type: AddMachineSshKeysPayload,
    description: "Keys that may log in as root and the owner, added to a machine, running or not (no reboot)",
    authScopes: { user: true },
    args: {
      id: t.arg.globalID({ required: true, for: [MachineRef] }),
      sshPublicKeys: t.arg.stringList({ required: true }),
    },
    errors: {
      types: limited(ValidationError, NotFoundError, InvalidStateError),
      directResult: true,
      union: { name: "AddMachineSshKeysResult" },
    },
    resolve: async (_root, { id, sshPublicKeys }, ctx) => {
      spendMutation(ctx);
      return { machine: await addSshKeys(ctx.db, actorOf(ctx), id.id, sshPublicKeys, mayLetIn(ctx)) };
    },
  }),
);

builder.subscriptionField("machines", (t) =>
  t.field({
    type: MachineRef,
    description: "Each of your machines, every time it changes",
    authScopes: { loggedIn: true },
    subscribe: (_root, _args, ctx) => changedMachines(ctx),
    resolve: (machine) => machine,
  }),
);

/** Events are stamped by other processes' clocks: a resync reaches back this much before the loss. */
const RESYNC_MARGIN_MS = 10_000;

function changedMachines(ctx: Context): AsyncIterableIterator<Machine> {
  const pending: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const off = ctx.notifier.onMachineChanged((id) => {
    pending.push(id);
    wake?.();
  });
  // What changed while LISTEN was down was never notified: everything that may have, once more.
  const offResync = ctx.notifier.onMachinesResync((lostAt) => {
    const since = new Date(lostAt.getTime() - RESYNC_MARGIN_MS);
    void machineIdsChangedSince(ctx.db, viewerFilter(ctx), since).then(
      (ids) => {
        pending.push(...ids.filter((id) => !pending.includes(id)));
        wake?.();
      },
      () => undefined,
    );
  });
  const stop = () => {
    ended = true;
    off();
    offResync();
    wake?.();
  };
  async function* changes(): AsyncGenerator<Machine> {
    try {
      while (!ended) {
        while (pending.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
        const id = pending.shift();
        if (id === undefined) continue;
        const machine = await visibleMachine(ctx, id);
        if (machine && !ended) yield machine;
      }
    } finally {
      stop();
    }
  }
  return endingWith(stop, changes());
}
