import { ValidationError, validateTokenRequest } from "../core/index.js";
import { createToken, ensureUser, type User, userById } from "../db/queries/users.js";
import { builder } from "./builder.js";

const RoleEnum = builder.enumType("Role", { values: ["ADMIN", "USER", "AGENT"] as const });

export const UserRef = builder.objectRef<User>("User");
builder.node(UserRef, {
  id: { resolve: (user) => user.id },
  // Only yourself, unless you are an admin.
  loadOne: async (id, ctx) =>
    ctx.viewer && (ctx.viewer.user.role === "ADMIN" || ctx.viewer.user.id === id) ? await userById(ctx.db, id) : null,
  fields: (t) => ({
    name: t.exposeString("name"),
    role: t.field({ type: RoleEnum, resolve: (u) => u.role }),
    hostUser: t.exposeString("hostUser", { nullable: true, description: "The host account machines run as" }),
    maxMachines: t.exposeInt("maxMachines"),
    maxMemoryMiB: t.exposeInt("maxMemoryMiB"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: UserRef,
    authScopes: { loggedIn: true },
    resolve: (_root, _args, ctx) => ctx.viewer?.user as User,
  }),
);

const CreateTokenInput = builder.inputType("CreateTokenInput", {
  fields: (t) => ({
    user: t.string({ required: true, description: "The user's name; created if missing" }),
    role: t.field({ type: RoleEnum, required: false }),
    hostUser: t.string({ required: false, description: "Host account for the user's machines" }),
  }),
});

const CreateTokenPayload = builder.objectRef<{ token: string; user: User }>("CreateTokenPayload").implement({
  fields: (t) => ({
    token: t.exposeString("token", { description: "Shown once: only its hash is stored" }),
    user: t.field({ type: UserRef, resolve: (p) => p.user }),
  }),
});

builder.mutationField("createToken", (t) =>
  t.field({
    type: CreateTokenPayload,
    description: "ADMIN: creates the user if missing and a new bearer token for them",
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateTokenInput, required: true }) },
    errors: { types: [ValidationError], directResult: true, union: { name: "CreateTokenResult" } },
    resolve: async (_root, { input }, ctx) => {
      validateTokenRequest(input);
      const user = await ensureUser(ctx.db, {
        name: input.user,
        role: input.role ?? undefined,
        hostUser: input.hostUser,
      });
      return { token: await createToken(ctx.db, user.id), user };
    },
  }),
);
