import { GraphQLError } from "graphql";
import { IMAGE_EVENTS, ValidationError } from "../core/index.js";
import { hostById } from "../db/queries/hosts.js";
import {
  defaultVersion,
  type Image,
  type ImageSync,
  imageByName,
  listImages,
  pendingSyncsForHost,
  reportSync,
  type StoredImageEvent,
  syncById,
  versionsOf,
} from "../db/queries/images.js";
import { imageEventStream } from "../live/index.js";
import { syncImage } from "../services/images.js";
import { builder } from "./builder.js";
import { actorOf, spendMutation } from "./context.js";
import { limited } from "./errors.js";
import { cursorArg, eventTypes } from "./vocabulary.js";

type VersionRow = Awaited<ReturnType<typeof versionsOf>>[number];

const ImageVersionRef = builder.objectRef<VersionRow>("ImageVersion").implement({
  fields: (t) => ({
    version: t.exposeInt("version"),
    sizeBytes: t.exposeFloat("sizeBytes", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    source: t.exposeString("source", { nullable: true, description: "The rsync source it was synced from" }),
    machineCount: t.exposeInt("machineCount", { description: "Live machines made from this version" }),
    hostCount: t.exposeInt("hostCount", { description: "Hosts that hold it" }),
  }),
});

const SyncStateEnum = builder.enumType("ImageSyncState", { values: ["PENDING", "SUCCEEDED", "FAILED"] as const });

const ImageSyncRef = builder.objectRef<ImageSync>("ImageSync").implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    source: t.exposeString("source"),
    version: t.exposeInt("version", { description: "The version this sync builds" }),
    state: t.field({ type: SyncStateEnum, resolve: (s) => s.state }),
    error: t.exposeString("error", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
  }),
});

export const ImageRef = builder.objectRef<Image>("Image").implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    source: t.exposeString("source", { nullable: true, description: "Where syncs rsync the master from" }),
    syncIntervalSeconds: t.exposeInt("syncIntervalSeconds", { nullable: true }),
    lastSyncedAt: t.expose("lastSyncedAt", { type: "DateTime", nullable: true }),
    defaultVersion: t.int({
      nullable: true,
      description: "The version new machines get: the newest one a host has built",
      resolve: (image, _args, ctx) => defaultVersion(ctx.db, image.id).then((v) => v ?? null),
    }),
    versions: t.field({
      type: [ImageVersionRef],
      resolve: (image, _args, ctx) => versionsOf(ctx.db, image.id),
    }),
  }),
});

builder.queryField("images", (t) =>
  t.field({
    type: [ImageRef],
    authScopes: { loggedIn: true },
    resolve: (_root, _args, ctx) => listImages(ctx.db),
  }),
);

const SyncImageInput = builder.inputType("SyncImageInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "The image; created when new" }),
    source: t.string({
      required: true,
      description: "An absolute directory on the hosts, rsync://host/module/path or host:path",
    }),
    intervalSeconds: t.int({ required: false, description: "Sync again this often (at least 60); null stops" }),
  }),
});

const SyncImagePayload = builder.objectRef<{ image: Image; sync: ImageSync }>("SyncImagePayload").implement({
  fields: (t) => ({
    image: t.field({ type: ImageRef, resolve: (p) => p.image }),
    sync: t.field({ type: ImageSyncRef, resolve: (p) => p.sync }),
  }),
});

builder.mutationField("syncImage", (t) =>
  t.field({
    type: SyncImagePayload,
    description: "ADMIN: rsync the image's master from source and build a new version on every host",
    authScopes: { admin: true },
    args: { input: t.arg({ type: SyncImageInput, required: true }) },
    errors: { types: limited(ValidationError), directResult: true, union: { name: "SyncImageResult" } },
    resolve: (_root, { input }, ctx) => {
      spendMutation(ctx);
      return syncImage(ctx.db, actorOf(ctx), input);
    },
  }),
);

// --- the agents' side -----------------------------------------------------

const PendingSyncRef = builder.objectRef<{ sync: ImageSync; image: Image }>("PendingImageSync").implement({
  fields: (t) => ({
    id: t.id({ resolve: (p) => p.sync.id }),
    image: t.string({ resolve: (p) => p.image.name }),
    source: t.string({ resolve: (p) => p.sync.source }),
    version: t.int({ resolve: (p) => p.sync.version }),
  }),
});

builder.queryField("pendingImageSyncs", (t) =>
  t.field({
    type: [PendingSyncRef],
    description: "AGENT: syncs this host has still to run, oldest first",
    authScopes: { agent: true },
    resolve: (_root, _args, ctx) => pendingSyncsForHost(ctx.db, ctx.viewer?.hostId as string),
  }),
);

const ImageSyncReport = builder.inputType("ImageSyncReport", {
  fields: (t) => ({
    syncId: t.id({ required: true }),
    phase: t.string({ required: false, description: "transfer or build" }),
    bytes: t.float({ required: false }),
    percent: t.int({ required: false }),
    files: t.int({ required: false }),
    done: t.boolean({ required: false, description: "The version is built on this host" }),
    sizeBytes: t.float({ required: false }),
    error: t.string({ required: false, description: "The sync failed on this host: why" }),
  }),
});

builder.mutationField("reportImageSync", (t) =>
  t.boolean({
    description: "AGENT: progress, completion or failure of a sync on this host",
    authScopes: { agent: true },
    args: { report: t.arg({ type: ImageSyncReport, required: true }) },
    resolve: async (_root, { report }, ctx) => {
      const sync = await syncById(ctx.db, String(report.syncId));
      if (!sync) throw new GraphQLError("no such image sync", { extensions: { code: "NOT_FOUND" } });
      const host = await hostById(ctx.db, ctx.viewer?.hostId as string);
      if (!host) throw new GraphQLError("this agent has no host", { extensions: { code: "FORBIDDEN" } });
      await reportSync(ctx.db, host, sync, {
        phase: report.phase ?? undefined,
        bytes: report.bytes ?? undefined,
        percent: report.percent ?? undefined,
        files: report.files ?? undefined,
        done: report.done ?? undefined,
        sizeBytes: report.sizeBytes ?? undefined,
        error: report.error ?? undefined,
      });
      return true;
    },
  }),
);

// --- imageEvents ------------------------------------------------------------

const ImageEventInterface = builder.interfaceRef<StoredImageEvent>("ImageEvent").implement({
  description: "Something that happened to an image; `cursor` resumes a stream right after it",
  resolveType: (event) => event.kind,
  fields: (t) => ({
    cursor: t.string({ resolve: (e) => String(e.seq) }),
    at: t.expose("at", { type: "DateTime" }),
    version: t.int({ resolve: (e) => (e.payload as { version: number }).version }),
  }),
});

eventTypes(IMAGE_EVENTS, ImageEventInterface, ["version"]);

builder.subscriptionField("imageEvents", (t) =>
  t.field({
    type: ImageEventInterface,
    description: "The image's sync events after `after`: the stored backlog, then live",
    authScopes: { loggedIn: true },
    args: { name: t.arg.string({ required: true }), after: t.arg.string({ required: false }) },
    subscribe: async (_root, args, ctx) => {
      const image = await imageByName(ctx.db, args.name);
      if (!image) throw new GraphQLError(`no image named ${args.name}`, { extensions: { code: "NOT_FOUND" } });
      return imageEventStream(ctx.db, ctx.notifier, image.id, cursorArg(args.after));
    },
    resolve: (event) => event,
  }),
);
