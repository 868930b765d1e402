import { encodeGlobalID } from "@pothos/plugin-relay";
import { GraphQLError } from "graphql";
import { AUDIT_ACTIONS, parseCursor } from "../core/index.js";
import { type AuditEntry, auditPage } from "../db/queries/audit.js";
import { userById } from "../db/queries/users.js";
import { builder } from "./builder.js";
import { UserRef } from "./user.js";

const AuditActionEnum = builder.enumType("AuditAction", { values: AUDIT_ACTIONS });

const AuditEntryRef = builder.objectRef<AuditEntry>("AuditEntry").implement({
  description: "One request to change something: who asked, with which token, for what, and how it went",
  fields: (t) => ({
    id: t.id({ resolve: (e) => String(e.id) }),
    at: t.expose("at", { type: "DateTime" }),
    action: t.field({ type: AuditActionEnum, resolve: (e) => e.action }),
    result: t.exposeString("result", { description: "ok, or the typed error's name (QuotaExceededError, …)" }),
    userName: t.exposeString("userName", { description: "Who asked, by their name then" }),
    user: t.field({
      type: UserRef,
      nullable: true,
      description: "Who asked, unless the user is gone",
      resolve: async (e, _args, ctx) => (e.userId ? ((await userById(ctx.db, e.userId)) ?? null) : null),
    }),
    tokenId: t.exposeID("tokenId", { nullable: true, description: "The token they used (Token.id)" }),
    targetId: t.id({
      nullable: true,
      description: "What it was done to: a Machine's id, a Token's id or an ImageSync's id",
      resolve: (e) =>
        e.targetId && e.action.startsWith("MACHINE_") ? encodeGlobalID("Machine", e.targetId) : e.targetId,
    }),
    targetName: t.exposeString("targetName", {
      nullable: true,
      description: "The machine's name, the token's user or the image",
    }),
  }),
});

const AuditConnection = builder.connectionObject(
  { type: AuditEntryRef, name: "AuditEntryConnection" },
  { name: "AuditEntryEdge" },
);

const PAGE = { default: 50, max: 500 };

builder.queryField("auditLog", (t) =>
  t.field({
    type: AuditConnection,
    description: "ADMIN: every change asked of the api, newest first",
    authScopes: { admin: true },
    args: {
      first: t.arg.int({ required: false, description: `At most ${PAGE.max}; ${PAGE.default} when absent` }),
      after: t.arg.string({ required: false, description: "The cursor of the last entry seen: older ones follow" }),
      user: t.arg.string({ required: false, description: "Only this user's requests" }),
      action: t.arg({ type: AuditActionEnum, required: false }),
    },
    resolve: async (_root, args, ctx) => {
      const before = args.after ? parseCursor(args.after) : undefined;
      if (before === undefined && args.after) throw new GraphQLError("after is not a cursor of auditLog");
      const limit = Math.min(Math.max(args.first ?? PAGE.default, 0), PAGE.max);
      const filter = { userName: args.user ?? undefined, action: args.action ?? undefined, beforeId: before };
      const rows = await auditPage(ctx.db, filter, limit + 1);
      const edges = rows.slice(0, limit).map((node) => ({ cursor: String(node.id), node }));
      return {
        edges,
        pageInfo: {
          hasNextPage: rows.length > limit,
          hasPreviousPage: before !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);
