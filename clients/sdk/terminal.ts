import type { Endpoint } from "./request.js";

export type TerminalLogin = "ROOT" | "OWNER";
export type TerminalAccess = "CONTROL" | "VIEW";

export interface TerminalHandlers {
  /** Output of the machine's shell (the recent past first, on every attach). */
  data(bytes: Uint8Array): void;
  /** The api let this socket in: CONTROL types, VIEW only watches. */
  attached?(access: TerminalAccess): void;
  /** The session is over: its shell exited, or the machine went away. */
  ended?(reason: string): void;
  /** The api refused or lost the socket; code is its close code (4400–4500: retrying will not help). */
  closed?(code: number, message: string): void;
}

export interface Terminal {
  send(data: string | Uint8Array): void;
  resize(cols: number, rows: number): void;
  close(): void;
}

/** The api's terminal or desktop socket for endpoint's /graphql URL. */
export function screenSocketUrl(endpoint: Pick<Endpoint, "url">, screen: "terminal" | "desktop" = "terminal"): string {
  return new URL(`/${screen}`, endpoint.url).toString().replace(/^http/, "ws");
}

/** The first message of a screen socket: who asks (the token), for which machine, as whom. */
export function openMessage(
  token: string | undefined,
  open: { machineId: string; login?: TerminalLogin; cols?: number; rows?: number },
): string {
  return JSON.stringify({ type: "open", token: token ?? "", login: "ROOT", ...open });
}

/** The web page, opening machineId's terminal once signed in. */
export function terminalPageUrl(endpoint: Pick<Endpoint, "url">, machineId: string): string {
  return `${new URL("/", endpoint.url)}#terminal=${encodeURIComponent(machineId)}`;
}

interface SocketLike {
  binaryType: string;
  readyState: number;
  send(data: string | ArrayBufferLike | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

/**
 * A terminal in a READY machine over the api's /terminal socket: the token goes in the first
 * message (browsers cannot set a socket's headers), and the api checks it there.
 */
export function openTerminal(
  endpoint: Endpoint,
  open: { machineId: string; login?: TerminalLogin; cols?: number; rows?: number },
  handlers: TerminalHandlers,
): Terminal {
  const Impl = (endpoint.webSocket ?? globalThis.WebSocket) as new (url: string) => SocketLike;
  const socket = new Impl(screenSocketUrl(endpoint));
  socket.binaryType = "arraybuffer";
  let refusal = "";
  socket.onopen = () => socket.send(openMessage(endpoint.token, open));
  socket.onmessage = ({ data }) => {
    if (typeof data !== "string") {
      handlers.data(new Uint8Array(data as ArrayBuffer));
      return;
    }
    const message = JSON.parse(data) as { type: string; access?: TerminalAccess; reason?: string; message?: string };
    if (message.type === "attached") handlers.attached?.(message.access as TerminalAccess);
    else if (message.type === "ended") handlers.ended?.(message.reason ?? "");
    else if (message.type === "error") refusal = message.message ?? "";
  };
  socket.onclose = ({ code, reason }) => handlers.closed?.(code, refusal || reason);
  const encoder = new TextEncoder();
  return {
    send: (data) => {
      if (socket.readyState === 1) socket.send(typeof data === "string" ? encoder.encode(data) : data);
    },
    resize: (cols, rows) => {
      if (socket.readyState === 1) socket.send(JSON.stringify({ type: "resize", cols, rows }));
    },
    close: () => socket.close(1000),
  };
}
