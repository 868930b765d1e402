import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createYoga } from "graphql-yoga";
import { DEFAULT_RATE_LIMIT, HOST_DOWN_SECONDS, type Log, type RateLimit, RateLimiter } from "../core/index.js";
import type { Database } from "../db/client.js";
import { Notifier, type SocketServerContext, type Subscriptions, serveSubscriptions } from "../live/index.js";
import { type Context, schema } from "../schema/index.js";
import { bootstrap } from "./bootstrap.js";
import { connectionContexts, contextFor } from "./context.js";
import { queryLimitsPlugins } from "./limits.js";
import { createMetrics, serveOperations } from "./metrics.js";
import { startPasses } from "./passes.js";
import { requestLogPlugin } from "./request-log.js";
import { serveDesktops } from "./screens/desktop-socket.js";
import type { DialMachine } from "./screens/ssh.js";
import { serveTerminals } from "./screens/terminal-socket.js";
import { routeUpgrades } from "./upgrades.js";
import { serveWeb } from "./web.js";

interface AppDeps {
  database: Database;
  stateDir: string;
  log?: Log;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Mutations per token (agents' excepted), in this process; the default is DEFAULT_RATE_LIMIT. */
  rateLimit?: RateLimit;
  /** How often hosts' liveness and lab machines' leases are checked; 0: never (a test runs passes itself). */
  passIntervalMs?: number;
  /** A host silent for longer is down and its machines LOST (default HOST_DOWN_SECONDS). */
  hostDownSeconds?: number;
  /** How the page's terminals reach a machine's sshd; the default is TCP to its LAN address. */
  dialMachine?: DialMachine;
}

/** Where the page's terminal and desktop sockets connect. */
export const TERMINAL_PATH = "/terminal";
export const DESKTOP_PATH = "/desktop";

const EXAMPLE_OPERATIONS = `# Set the Authorization header below: {"Authorization": "Bearer <your token>"}
query Me {
  viewer { name role maxMachines maxMemoryMiB }
  machines(first: 20) { edges { node { id name state ipAddress } } }
}

mutation Provision {
  provisionMachine(input: { name: "lab-1" }) {
    __typename
    ... on ProvisionMachinePayload { machine { id name state } }
    ... on Error { message }
  }
}

subscription Events($id: ID!) {
  machineEvents(machineId: $id) {
    __typename cursor at
    ... on ConsoleOutput { text }
    ... on MachineStateChanged { state reason }
    ... on SshReady { ip port hostKeys { fingerprintSha256 } }
  }
}
`;

const dialTcp: DialMachine = async (ip, port) => connect({ host: ip, port });

/** The api: one /graphql path for POST, GET (GraphiQL), SSE and graphql-ws. */
export async function buildApp(deps: AppDeps) {
  const { database } = deps;
  const log = deps.log ?? (() => undefined);
  const notifier = new Notifier(database);
  const rateLimiter = new RateLimiter(deps.rateLimit ?? DEFAULT_RATE_LIMIT);
  let subscriptions: Subscriptions | undefined;
  const metrics = createMetrics(database.db, () => subscriptions?.sockets() ?? 0);
  const base = { db: database.db, notifier, rateLimiter, observeEvents: metrics.observeEvents };
  const forConnection = connectionContexts(base);

  const yoga = createYoga<SocketServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // GraphiQL's code inlined in its page: a classroom LAN often has no way to a CDN.
    renderGraphiQL,
    plugins: [...queryLimitsPlugins(), metrics.plugin, requestLogPlugin(log)],
    context: ({ request, connectionParams }) =>
      connectionParams ? forConnection(connectionParams) : contextFor(base, request?.headers.get("authorization")),
    graphiql: {
      title: "gaol",
      defaultQuery: EXAMPLE_OPERATIONS,
      headers: JSON.stringify({ Authorization: "Bearer <token>" }),
      subscriptionsProtocol: "WS",
    },
  });

  const maxBody = deps.maxBodyBytes ?? 1 << 20;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers["content-length"] ?? 0) > maxBody) {
      res.writeHead(413, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ message: `request body over ${maxBody} bytes` }] }));
      return;
    }
    void (async () => {
      if (await serveOperations(req, res, { ...base, registry: metrics.registry })) return;
      if (!(await serveWeb(req, res))) await yoga(req, res);
    })();
  });

  subscriptions = serveSubscriptions(yoga, { maxPayload: maxBody });
  const screenDeps = {
    db: database.db,
    contextFor: (authorization: string) => contextFor(base, authorization),
    dial: deps.dialMachine ?? dialTcp,
  };
  const terminals = serveTerminals(screenDeps);
  const desktops = serveDesktops(screenDeps);
  routeUpgrades(
    server,
    new Map([
      [yoga.graphqlEndpoint, subscriptions.wss],
      [TERMINAL_PATH, terminals.wss],
      [DESKTOP_PATH, desktops.wss],
    ]),
  );

  let started = false;
  let prepared = false;
  let stopped = false;
  let stopPasses: (() => Promise<void>) | undefined;
  /** Seeds the database on first start and starts listening for notifications; enough for yoga.fetch. */
  const prepare = async () => {
    if (prepared) return;
    prepared = true;
    const tokenFile = await bootstrap(database.db, deps.stateDir);
    if (tokenFile) log(`first start: an admin token is in ${tokenFile} (mode 0600)`);
    await notifier.start();
    const passIntervalMs = deps.passIntervalMs ?? 1000;
    const hostDownSeconds = deps.hostDownSeconds ?? HOST_DOWN_SECONDS;
    if (passIntervalMs > 0) stopPasses = startPasses(database.db, { intervalMs: passIntervalMs, hostDownSeconds }, log);
  };
  return {
    yoga,
    server,
    notifier,
    prepare,
    /** Prepares, then serves HTTP and graphql-ws on port (0: any free one). Resolves to the /graphql URL. */
    async start(port = 4000, host = "127.0.0.1"): Promise<string> {
      await prepare();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve());
      });
      started = true;
      const address = server.address() as AddressInfo;
      return `http://${host}:${address.port}/graphql`;
    },
    /** Idempotent: closes sockets, the server and the notification listener. */
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await stopPasses?.();
      await subscriptions?.dispose();
      await terminals.dispose();
      await desktops.dispose();
      if (started) {
        started = false;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await notifier.stop();
    },
  };
}

export type App = Awaited<ReturnType<typeof buildApp>>;
