import WebSocket from "ws";
import type { Endpoint } from "./request.js";

/** GAOL_API and GAOL_TOKEN, as the CONTRACT names them, with Node 20's missing WebSocket filled in. */
export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoint {
  return {
    url: env.GAOL_API ?? "http://127.0.0.1:4000/graphql",
    token: env.GAOL_TOKEN || undefined,
    webSocket: WebSocket,
  };
}
