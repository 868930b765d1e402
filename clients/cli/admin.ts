import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { GaolClient } from "../sdk/client.js";
import { CreateTokenDocument, type Role } from "../sdk/generated.js";
import { endpointFromEnv } from "../sdk/node.js";
import { type Endpoint, payloadOf, request } from "../sdk/request.js";
import { ago, printJson, printTable } from "./output.js";

/** GAOL_TOKEN, or on the server itself the first admin token the server wrote. */
export async function adminEndpoint(): Promise<Endpoint> {
  const endpoint = endpointFromEnv();
  if (endpoint.token) return endpoint;
  const file = join(process.env.GAOL_STATE_DIR ?? "/var/lib/gaol", "admin-token");
  const token = (await readFile(file, "utf8").catch(() => "")).trim();
  return { ...endpoint, token: token || undefined };
}

const ROLES: readonly Role[] = ["ADMIN", "USER", "AGENT"];

/** `gaol token create --user NAME [--role R] [--host-user ACCOUNT]`: prints the new token once, on stdout. */
export async function createTokenCommand(args: { user?: string; role?: string; "host-user"?: string }) {
  if (!args.user)
    throw new Error("usage: gaol token create --user NAME [--role ADMIN|USER|AGENT] [--host-user ACCOUNT]");
  const role = args.role?.toUpperCase() as Role | undefined;
  if (role && !ROLES.includes(role)) throw new Error("--role must be ADMIN, USER or AGENT");
  const { createToken } = await request(await adminEndpoint(), CreateTokenDocument, {
    input: { user: args.user, role, hostUser: args["host-user"] },
  });
  console.log(payloadOf(createToken, "CreateTokenPayload").token);
}

/** `gaol images [--json]`: each image and its versions. */
export async function imagesCommand(endpoint: Endpoint, json: boolean): Promise<void> {
  const images = await new GaolClient(endpoint).images();
  if (json) return printJson(images);
  printTable([
    ["IMAGE", "VERSION", "SIZE", "CREATED"],
    ...images.flatMap((image) =>
      (image.versions.length ? image.versions : [undefined]).map((v) => [
        image.name,
        v ? String(v.version) : "-",
        v?.sizeBytes ? `${(v.sizeBytes / 2 ** 20).toFixed(0)} MiB` : "-",
        v ? ago(v.createdAt) : "-",
      ]),
    ),
  ]);
}

/** `gaol hosts [--json]` (ADMIN): capacity and the last heartbeat of each host. */
export async function hostsCommand(json: boolean): Promise<void> {
  const hosts = await new GaolClient(await adminEndpoint()).hosts();
  if (json) return printJson(hosts);
  printTable([
    ["HOST", "MACHINES", "MEMORY", "HEARTBEAT"],
    ...hosts.map((h) => [
      h.name,
      `${h.machineCount}/${h.maxMachines}`,
      `${h.usedMemoryMiB}/${h.memoryMiB} MiB`,
      ago(h.lastHeartbeatAt),
    ]),
  ]);
}
