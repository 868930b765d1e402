import { type User, userById } from "../db/queries/users.js";
import { builder } from "./builder.js";

export const RoleEnum = builder.enumType("Role", { values: ["ADMIN", "USER", "AGENT"] as const });

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
