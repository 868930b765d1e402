import { NotFoundError, ValidationError } from "../core/index.js";
import { listTokens, type Token } from "../db/queries/tokens.js";
import { type User, userByName } from "../db/queries/users.js";
import { issueToken, revokeToken } from "../services/tokens.js";
import { builder } from "./builder.js";
import { actorOf, type Context, spendMutation } from "./context.js";
import { limited } from "./errors.js";
import { RoleEnum, UserRef } from "./user.js";

const TokenRef = builder.objectRef<Token>("Token").implement({
  description: "A bearer token as it is listed: never its secret",
  fields: (t) => ({
    id: t.exposeID("id", { description: "What revokeToken takes" }),
    prefix: t.exposeString("prefix", {
      nullable: true,
      description: "Its first characters, to recognise it (a token made before prefixes: after its first use)",
    }),
    user: t.field({ type: UserRef, resolve: (token) => token.user }),
    role: t.field({ type: RoleEnum, resolve: (token) => token.user.role }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true, description: "Absent: never expires" }),
    lastUsedAt: t.expose("lastUsedAt", {
      type: "DateTime",
      nullable: true,
      description: "When it last authenticated a request, to the minute",
    }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
    active: t.boolean({
      description: "Neither revoked nor expired",
      resolve: (token) => token.revokedAt === null && (token.expiresAt === null || token.expiresAt > new Date()),
    }),
  }),
});

const isAdmin = (ctx: Context) => ctx.viewer?.user.role === "ADMIN";
/** An admin sees and revokes every token, anyone else their own. */
const mayManage = (ctx: Context, userId: string) => isAdmin(ctx) || ctx.viewer?.user.id === userId;

builder.queryField("tokens", (t) =>
  t.field({
    type: [TokenRef],
    description: "Your tokens (an admin's: everyone's, or one user's), newest first",
    authScopes: { loggedIn: true },
    args: { user: t.arg.string({ required: false, description: "Only this user's tokens" }) },
    resolve: async (_root, args, ctx) => {
      const viewer = ctx.viewer?.user as User;
      if (!args.user) return listTokens(ctx.db, isAdmin(ctx) ? {} : { userId: viewer.id });
      const user = await userByName(ctx.db, args.user);
      return user && mayManage(ctx, user.id) ? listTokens(ctx.db, { userId: user.id }) : [];
    },
  }),
);

builder.objectField(UserRef, "tokens", (t) =>
  t.field({
    type: [TokenRef],
    description: "This user's tokens, newest first (yours, or anyone's for an admin)",
    authScopes: (user, _args, ctx) => mayManage(ctx, user.id),
    resolve: (user, _args, ctx) => listTokens(ctx.db, { userId: user.id }),
  }),
);

const CreateTokenInput = builder.inputType("CreateTokenInput", {
  fields: (t) => ({
    user: t.string({ required: true, description: "The user's name; created if missing" }),
    role: t.field({ type: RoleEnum, required: false }),
    hostUser: t.string({ required: false, description: "Host account for the user's machines" }),
    expiresInSeconds: t.int({ required: false, description: "The token stops working this long from now" }),
  }),
});

const CreateTokenPayload = builder.objectRef<{ secret: string; token: Token }>("CreateTokenPayload").implement({
  fields: (t) => ({
    token: t.string({ description: "Shown once: only its hash is stored", resolve: (p) => p.secret }),
    user: t.field({ type: UserRef, resolve: (p) => p.token.user }),
    details: t.field({ type: TokenRef, description: "The token as tokens lists it", resolve: (p) => p.token }),
  }),
});

builder.mutationField("createToken", (t) =>
  t.field({
    type: CreateTokenPayload,
    description: "ADMIN: creates the user if missing and a new bearer token for them",
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateTokenInput, required: true }) },
    errors: { types: limited(ValidationError), directResult: true, union: { name: "CreateTokenResult" } },
    resolve: (_root, { input }, ctx) => {
      spendMutation(ctx);
      return issueToken(ctx.db, actorOf(ctx), input);
    },
  }),
);

const RevokeTokenPayload = builder.objectRef<{ token: Token }>("RevokeTokenPayload").implement({
  fields: (t) => ({ token: t.field({ type: TokenRef, resolve: (p) => p.token }) }),
});

builder.mutationField("revokeToken", (t) =>
  t.field({
    type: RevokeTokenPayload,
    description: "The token stops working at once (an admin: any token; anyone else: their own). Idempotent",
    authScopes: { loggedIn: true },
    args: { id: t.arg.id({ required: true }) },
    errors: { types: limited(NotFoundError), directResult: true, union: { name: "RevokeTokenResult" } },
    resolve: (_root, { id }, ctx) => {
      spendMutation(ctx);
      return revokeToken(ctx.db, actorOf(ctx), String(id), (token) => mayManage(ctx, token.userId));
    },
  }),
);
