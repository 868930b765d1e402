import WebSocket from "ws";
import type { Endpoint } from "./request.js";

/** GAOL_API and GAOL_TOKEN, as the CONTRACT names them, with Node 20's missing WebSocket filled in. */
export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoint {
  return {
    url: apiUrl(env.GAOL_API ?? "http://127.0.0.1:4000/graphql"),
    // People paste the header's value: "Bearer gaol_…" is the token after the word.
    token: env.GAOL_TOKEN?.trim().replace(/^Bearer\s+/i, "") || undefined,
    webSocket: WebSocket,
  };
}

/** The api's address as people write it: the server's root (http://host:4000) means its /graphql. */
export function apiUrl(given: string): string {
  // "localhost:4000" parses, with "localhost:" as its scheme: only http and https are an api.
  const url = URL.canParse(given) ? new URL(given) : undefined;
  if (!url || !["http:", "https:"].includes(url.protocol))
    throw new Error(`GAOL_API=${given} is not a URL: it is the api's /graphql, e.g. http://host:4000/graphql`);
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/graphql";
  return url.toString();
}
