import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { AUDIT_ACTIONS } from "../../core/index.js";
import { GaolClient } from "../sdk/client.js";
import type { AuditAction, Role } from "../sdk/generated.js";
import { endpointFromEnv } from "../sdk/node.js";
import type { Endpoint } from "../sdk/request.js";
import { parseDuration } from "./duration.js";
import { ago, fromNow, printJson, printTable } from "./output.js";
import { bar, mebibytes, Progress } from "./progress.js";

/** GAOL_TOKEN, or on the server itself the first admin token the server wrote. */
export async function adminEndpoint(): Promise<Endpoint> {
  const endpoint = endpointFromEnv();
  if (endpoint.token) return endpoint;
  const file = join(process.env.GAOL_STATE_DIR ?? "/var/lib/gaol", "admin-token");
  const token = (await readFile(file, "utf8").catch(() => "")).trim();
  return { ...endpoint, token: token || undefined };
}

const ROLES: readonly Role[] = ["ADMIN", "USER", "AGENT"];

/**
 * A host account the api's own host does not have would fail the student's first machine much
 * later: refused here when the api runs on this host, a warning when it is elsewhere.
 */
async function checkHostAccount(account: string): Promise<void> {
  const found = await execa("getent", ["passwd", account], { reject: false });
  if (found.exitCode === 0) return;
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(new URL(endpointFromEnv().url).hostname);
  const problem = `there is no host account named ${account} on this host (getent passwd ${account})`;
  if (local) throw new Error(`${problem}: make it (adduser ${account}), or name one that exists with --host-user`);
  console.error(`gaol: warning: ${problem}; every host that runs their machines needs it`);
}
const CREATE_USAGE =
  "usage: gaol token create --user NAME [--role ADMIN|USER|AGENT] [--host-user ACCOUNT] [--expires 7d]";

/** `gaol token create --user NAME [--role R] [--host-user ACCOUNT] [--expires 7d]`: prints the new token once, on stdout. */
export async function createTokenCommand(args: {
  user?: string;
  role?: string;
  "host-user"?: string;
  expires?: string;
}) {
  if (!args.user) throw new Error(CREATE_USAGE);
  const role = args.role?.toUpperCase() as Role | undefined;
  if (role && !ROLES.includes(role)) throw new Error("--role must be ADMIN, USER or AGENT");
  const expiresInSeconds = args.expires === undefined ? undefined : parseDuration(args.expires);
  if (args["host-user"]) await checkHostAccount(args["host-user"]);
  const created = await new GaolClient(await adminEndpoint()).createToken({
    user: args.user,
    role,
    hostUser: args["host-user"],
    expiresInSeconds,
  });
  console.log(created.token);
  if (created.user.role === "USER" && !created.user.hostUser)
    console.error(
      `gaol: warning: ${created.user.name} has no host account, so their machines cannot start; add one with --host-user ACCOUNT`,
    );
}

/** `gaol token ls [--user NAME] [--json]`: your tokens (an admin: everyone's), never their secrets. */
export async function tokensCommand(args: { user?: string; json?: boolean }): Promise<void> {
  const tokens = await new GaolClient(await adminEndpoint()).tokens(args.user);
  if (args.json) return printJson(tokens);
  printTable([
    ["ID", "PREFIX", "USER", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED"],
    ...tokens.map((t) => [
      t.id,
      t.prefix ? `${t.prefix}…` : "-",
      t.user.name,
      t.role,
      ago(t.createdAt),
      fromNow(t.expiresAt),
      ago(t.lastUsedAt),
      t.revokedAt ? ago(t.revokedAt) : "-",
    ]),
  ]);
}

/** `gaol token revoke ID`: the token stops working at once. */
export async function revokeTokenCommand(id: string | undefined): Promise<void> {
  if (!id) throw new Error("usage: gaol token revoke ID (gaol token ls lists them)");
  const token = await new GaolClient(await adminEndpoint()).revokeToken(id);
  console.error(`gaol: revoked ${token.prefix ?? token.id}… of ${token.user.name}`);
}

/** `gaol audit [--user NAME] [--action A] [--first N] [--after CURSOR] [--json]` (ADMIN): newest first. */
export async function auditCommand(args: {
  user?: string;
  action?: string;
  first?: string;
  after?: string;
  json?: boolean;
}): Promise<void> {
  const action = args.action?.toUpperCase().replace(/[- ]/g, "_") as AuditAction | undefined;
  if (action && !AUDIT_ACTIONS.includes(action)) throw new Error(`--action must be one of ${AUDIT_ACTIONS.join(", ")}`);
  const first = args.first === undefined ? undefined : Number(args.first);
  if (first !== undefined && !Number.isInteger(first)) throw new Error("--first takes a whole number");
  const page = await new GaolClient(await adminEndpoint()).auditLog({
    first,
    after: args.after,
    user: args.user,
    action,
  });
  if (args.json) return printJson(page);
  printTable([
    ["AT", "USER", "TOKEN", "ACTION", "TARGET", "RESULT"],
    ...page.entries.map((e) => [
      e.at.replace(/\.\d+Z$/, "Z"),
      e.userName,
      e.tokenId?.slice(0, 8) ?? "-",
      e.action,
      e.targetName ?? e.targetId ?? "-",
      e.result,
    ]),
  ]);
  if (page.hasNextPage) console.error(`gaol: older entries: gaol audit --after ${page.endCursor}`);
}

/** `gaol images [--json]`: each image, its versions, sizes, source and users. */
export async function imagesCommand(endpoint: Endpoint, json: boolean): Promise<void> {
  const images = await new GaolClient(endpoint).images();
  if (json) return printJson(images);
  printTable([
    ["IMAGE", "VERSION", "SIZE", "MACHINES", "HOSTS", "BUILT", "SOURCE"],
    ...images.flatMap((image) =>
      (image.versions.length ? image.versions : [undefined]).map((v) => [
        image.name,
        v ? `${v.version}${v.version === image.defaultVersion ? " (default)" : ""}` : "-",
        mebibytes(v?.sizeBytes),
        v ? String(v.machineCount) : "-",
        v ? String(v.hostCount) : "-",
        v ? ago(v.createdAt) : "-",
        v?.source ?? image.source ?? "-",
      ]),
    ),
  ]);
}

/** `gaol image sync NAME --from SOURCE [--every SECONDS]` (ADMIN): asks for a sync, shows rsync's progress, then the build. */
export async function imageSyncCommand(args: { name?: string; from?: string; every?: string }): Promise<number> {
  if (!args.name || !args.from) throw new Error("usage: gaol image sync NAME --from SOURCE [--every SECONDS]");
  const client = new GaolClient(await adminEndpoint());
  const intervalSeconds = args.every === undefined ? undefined : Number(args.every);
  const { sync } = await client.syncImage({ name: args.name, source: args.from, intervalSeconds });
  const progress = new Progress(`${args.name} version ${sync.version}`);
  try {
    for await (const event of client.imageEvents(args.name)) {
      if (event.version !== sync.version) continue;
      switch (event.__typename) {
        case "ImageSyncProgress":
          progress.update(
            event.phase === "build"
              ? `building the image on ${event.host}`
              : `${bar(event.percent ?? 0)} ${mebibytes(event.bytes)} ${event.files ?? 0} files from ${args.from} on ${event.host}`,
          );
          break;
        case "ImageVersionBuilt":
          progress.done(
            `${args.name} version ${sync.version} built on ${event.host} (${mebibytes(event.sizeBytes)}) in ${progress.elapsed}`,
          );
          return 0;
        case "ImageSyncFailed":
          progress.fail(`the sync failed on ${event.host}: ${event.reason}`);
          return 1;
      }
    }
    return 1;
  } finally {
    progress.stop();
  }
}

/** `gaol hosts [--json]` (ADMIN): whether each host is up, its capacity and its last heartbeat. */
export async function hostsCommand(json: boolean): Promise<void> {
  const hosts = await new GaolClient(await adminEndpoint()).hosts();
  if (json) return printJson(hosts);
  printTable([
    ["HOST", "STATUS", "MACHINES", "MEMORY", "HEARTBEAT", "PLACING"],
    ...hosts.map((h) => [
      h.name,
      h.downSince ? `DOWN ${ago(h.downSince)}` : "up",
      `${h.machineCount}/${h.maxMachines}`,
      `${h.usedMemoryMiB}/${h.memoryMiB} MiB`,
      ago(h.lastHeartbeatAt),
      h.cordonedAt ? `cordoned ${ago(h.cordonedAt)}` : h.downSince ? "no (down)" : "yes",
    ]),
  ]);
}

const machinesWord = (n: number) => `${n} machine${n === 1 ? "" : "s"}`;

/**
 * `gaol hosts cordon|uncordon|drain NAME`: stop placing machines on a host (or start again);
 * drain cordons, then waits until its machines are gone (ended by their owners, leases or
 * admins: gaol does not move a student's machine), printing how many are left.
 */
export async function hostCordonCommand(how: string, name: string | undefined, wait?: string): Promise<number> {
  if (!name || !["cordon", "uncordon", "drain"].includes(how))
    throw new Error("usage: gaol hosts cordon|uncordon|drain NAME [--wait 1h]");
  const client = new GaolClient(await adminEndpoint());
  const host = await client.cordonHost(name, how !== "uncordon");
  console.error(`gaol: ${name} ${how === "uncordon" ? "takes new machines again" : "takes no new machines"}`);
  if (how !== "drain") return 0;
  const deadline = Date.now() + (wait === undefined ? 3600 : parseDuration(wait)) * 1000;
  let left = host.machineCount;
  while (left > 0) {
    if (Date.now() > deadline) {
      console.error(`gaol: ${name} still has ${machinesWord(left)}; they keep running (gaol ls lists them)`);
      return 1;
    }
    console.error(`gaol: ${name}: ${machinesWord(left)} left`);
    await new Promise((r) => setTimeout(r, 2000));
    left = (await client.hosts()).find((h) => h.name === name)?.machineCount ?? 0;
  }
  console.error(`gaol: ${name} is drained: no machines, none placed`);
  return 0;
}
