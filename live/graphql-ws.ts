import { type DocumentNode, type ExecutionArgs, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { type WebSocket, WebSocketServer } from "ws";
import { type SharedViewer, subscribeShared } from "./shared-payloads.js";
import { deliverToSocket } from "./socket-delivery.js";

/** What the live path reads of an operation's context: whose results its events are. */
export interface SubscriberContext {
  viewer?: SharedViewer;
}

/** What graphql-ws hands yoga's context factory besides the request: the connection's own params. */
export interface SocketServerContext {
  connectionParams?: Record<string, unknown>;
}

export interface SubscriptionOptions {
  /** Largest message accepted from a client, in bytes. */
  maxPayload: number;
}

/** Closes the sockets; ends every subscription on them. */
export interface Subscriptions {
  /** Takes the upgrades of yoga's endpoint (the api routes them here). */
  wss: WebSocketServer;
  dispose(): Promise<void>;
  /** graphql-ws sockets open now (for /metrics). */
  sockets(): number;
}

/** What onSubscribe hands graphql-ws's execute and subscribe (as the operation's root) for them to use. */
interface OperationRoot {
  execute: (args: ExecutionArgs) => unknown;
  query: string;
  viewer: SharedViewer | undefined;
  socket: WebSocket;
  id: string;
}

/**
 * graphql-ws for yoga's endpoint, through yoga's own parse, validate, context and
 * execute: queries and mutations as yoga runs them, subscriptions executed once per event,
 * viewer and operation (shared-payloads.ts), each written by its subscriber (socket-delivery.ts).
 */
export function serveSubscriptions<C extends SubscriberContext>(
  yoga: YogaServerInstance<SocketServerContext, C>,
  options: SubscriptionOptions,
): Subscriptions {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
  const wsServer = useServer(
    {
      execute: (args) => (args.rootValue as OperationRoot).execute(args) as never,
      subscribe: async (args) => {
        const root = args.rootValue as OperationRoot;
        const subscription = await subscribeShared(
          { ...args, rootValue: undefined } as ExecutionArgs,
          root.query,
          root.viewer,
        );
        return ("events" in subscription ? deliverToSocket(root.socket, root.id, subscription) : subscription) as never;
      },
      onSubscribe: async (ctx, id, params) => {
        const { schema, execute, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          connectionParams: ctx.connectionParams,
        });
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          // A syntax error (or the token limit) is the client's, as over HTTP: not a reason to drop the socket.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const contextValue: SubscriberContext = await contextFactory();
        const root: OperationRoot = {
          execute,
          query: params.query,
          viewer: contextValue.viewer,
          socket: ctx.extra.socket,
          id,
        };
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: root,
        };
      },
    },
    wss,
  );
  return {
    wss,
    // ws reports "not running" when closing a socket server whose http server never listened.
    dispose: () => Promise.resolve(wsServer.dispose()).catch(() => undefined),
    sockets: () => wss.clients.size,
  };
}
