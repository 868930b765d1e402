import { NotFoundError, ROOT_MIN_FREE_MIB } from "../core/index.js";
import { type Host, heartbeat, hostUsage, listHosts } from "../db/queries/hosts.js";
import { requestDueSyncs, setHostImages } from "../db/queries/images.js";
import { cordonHost } from "../services/hosts.js";
import { builder } from "./builder.js";
import { actorOf, spendMutation } from "./context.js";
import { limited } from "./errors.js";

export const HostRef = builder.objectRef<Host>("Host").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    memoryMiB: t.exposeInt("memoryMiB", { description: "Memory for machines, as the agent reports it" }),
    maxMachines: t.exposeInt("maxMachines"),
    rootFreeMiB: t.exposeInt("rootFreeMiB", {
      nullable: true,
      description: `Free MiB on its GAOL_ROOT at its last heartbeat (below ${ROOT_MIN_FREE_MIB}: no new machine is placed here); null: its agent does not say`,
    }),
    lastHeartbeatAt: t.expose("lastHeartbeatAt", { type: "DateTime", nullable: true }),
    cordonedAt: t.expose("cordonedAt", {
      type: "DateTime",
      nullable: true,
      description: "Since when no new machine is placed here (its machines keep running); null: open",
    }),
    downSince: t.expose("downSince", {
      type: "DateTime",
      nullable: true,
      description:
        "Since when its agent has been silent for longer than the api's GAOL_HOST_DOWN_SECONDS (its machines are LOST until it is back); null: up",
    }),
    usedMemoryMiB: t.int({ resolve: async (host, _args, ctx) => (await hostUsage(ctx.db, host.id)).memoryMiB }),
    machineCount: t.int({ resolve: async (host, _args, ctx) => (await hostUsage(ctx.db, host.id)).machines }),
  }),
});

builder.queryField("hosts", (t) =>
  t.field({
    type: [HostRef],
    authScopes: { admin: true },
    resolve: (_root, _args, ctx) => listHosts(ctx.db),
  }),
);

builder.mutationField("cordonHost", (t) =>
  t.field({
    type: builder.objectRef<Host>("CordonHostPayload").implement({
      fields: (f) => ({ host: f.field({ type: HostRef, resolve: (h) => h }) }),
    }),
    description:
      "ADMIN: no new machines on this host (cordoned: false opens it again); its machines keep running. To drain it, wait until its machineCount is 0 (gaol hosts drain)",
    authScopes: { admin: true },
    args: { name: t.arg.string({ required: true }), cordoned: t.arg.boolean({ required: false }) },
    errors: { types: limited(NotFoundError), directResult: true, union: { name: "CordonHostResult" } },
    resolve: async (_root, { name, cordoned }, ctx) => {
      spendMutation(ctx);
      return cordonHost(ctx.db, actorOf(ctx), name, cordoned ?? true);
    },
  }),
);

const HostImageInput = builder.inputType("HostImageInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    version: t.int({ required: true }),
    sizeBytes: t.float({ required: false }),
  }),
});

builder.mutationField("hostHeartbeat", (t) =>
  t.field({
    type: HostRef,
    description: "AGENT: this host is alive and can hold this much",
    authScopes: { agent: true },
    args: {
      memoryMiB: t.arg.int({ required: true }),
      maxMachines: t.arg.int({ required: true }),
      rootFreeMiB: t.arg.int({
        required: false,
        description: `Free MiB on its GAOL_ROOT: below ${ROOT_MIN_FREE_MIB}, no new machine is placed here`,
      }),
      images: t.arg({
        type: [HostImageInput],
        required: false,
        description: "Every image version the host holds now (absent: unchanged)",
      }),
    },
    resolve: async (_root, { images, ...capacity }, ctx) => {
      const hostId = ctx.viewer?.hostId as string;
      if (images) await setHostImages(ctx.db, hostId, images);
      // Heartbeats are the api's clock for scheduled syncs.
      await requestDueSyncs(ctx.db);
      return heartbeat(ctx.db, hostId, capacity);
    },
  }),
);
