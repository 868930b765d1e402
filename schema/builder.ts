import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import type { Context } from "./context.js";

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { loggedIn: boolean; admin: boolean; user: boolean; agent: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    // A refused token says why (expired, revoked, mistyped) and what to do; a role too low says no more.
    unauthorizedError: (_parent, ctx, _info, result) =>
      ctx.refusal ? `${result.message}: ${ctx.refusal}` : result.message,
    authScopes: (ctx) => {
      const role = ctx.viewer?.user.role;
      return {
        loggedIn: role !== undefined,
        admin: role === "ADMIN",
        user: role === "USER" || role === "ADMIN",
        agent: role === "AGENT",
      };
    },
  },
  relay: { clientMutationId: "omit", cursorType: "String" },
  errors: { defaultTypes: [] },
});

builder.scalarType("DateTime", {
  description: "An instant, as an ISO 8601 string in UTC",
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError("DateTime must be an ISO 8601 string");
    return date;
  },
});

builder.scalarType("JSON", {
  description: "Any JSON value",
  serialize: (value) => value,
  parseValue: (value) => value,
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
