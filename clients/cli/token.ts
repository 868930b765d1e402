import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Endpoint, endpointFromEnv, request } from "../sdk/request.js";

const CREATE = `mutation ($input: CreateTokenInput!) {
  createToken(input: $input) {
    __typename
    ... on CreateTokenPayload { token user { name role hostUser } }
    ... on ValidationError { message }
  }
}`;

/** GAOL_TOKEN, or on the server itself the first admin token the server wrote. */
async function adminEndpoint(): Promise<Endpoint> {
  const endpoint = endpointFromEnv();
  if (endpoint.token) return endpoint;
  const file = join(process.env.GAOL_STATE_DIR ?? "/var/lib/gaol", "admin-token");
  const token = (await readFile(file, "utf8").catch(() => "")).trim();
  return { ...endpoint, token: token || undefined };
}

/** `gaol token create --user NAME [--role R] [--host-user ACCOUNT]`: prints the new token once, on stdout. */
export async function createTokenCommand(args: { user?: string; role?: string; "host-user"?: string }) {
  if (!args.user)
    throw new Error("usage: gaol token create --user NAME [--role ADMIN|USER|AGENT] [--host-user ACCOUNT]");
  const role = args.role?.toUpperCase();
  if (role && !["ADMIN", "USER", "AGENT"].includes(role)) throw new Error(`--role must be ADMIN, USER or AGENT`);
  type Result = { createToken: { __typename: string; token?: string; message?: string } };
  const { createToken } = await request<Result>(await adminEndpoint(), CREATE, {
    input: { user: args.user, role, hostUser: args["host-user"] },
  });
  if (!createToken.token) throw new Error(createToken.message ?? createToken.__typename);
  console.log(createToken.token);
}
