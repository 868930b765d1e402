import { decodeGlobalID } from "@pothos/plugin-relay";
import type ssh2 from "ssh2";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { hasScreen, type ScreenAccess, screenAccess, TERMINAL_LOGINS, type TerminalLogin } from "../../core/index.js";
import type { Db } from "../../db/client.js";
import { type Machine, machineById } from "../../db/queries/machines.js";
import type { Context } from "../../schema/index.js";
import { terminalKey } from "../../services/terminal-key.js";
import { connectSsh, type DialMachine } from "./ssh.js";

export interface ScreenDeps {
  db: Db;
  /** The viewer of an `Authorization` value, as for every other request. */
  contextFor: (authorization: string) => Promise<Context>;
  dial: DialMachine;
}

/** Close codes a page can act on; the JSON "error" message before them says what to do. */
export const CLOSE = { badRequest: 4400, unauthorized: 4401, notFound: 4404, notReady: 4409, failed: 4500 } as const;

/** Time a socket has to send its "open" message. */
const OPEN_WITHIN_MS = 10_000;

export interface Size {
  cols: number;
  rows: number;
}

export interface OpenMessage {
  token: string;
  machineId: string;
  login: TerminalLogin;
  size?: Size;
}

/** A socket the api refuses, with what to do about it. */
export class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A checked socket: whose machine, and what the viewer may do with it. */
export interface Admitted {
  socket: WebSocket;
  message: OpenMessage;
  machine: Machine;
  access: Exclude<ScreenAccess, "NONE">;
}

export function sizeOf(m: Record<string, unknown>): Size | undefined {
  const { cols, rows } = m;
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 1000;
  return ok(cols) && ok(rows) ? { cols, rows } : undefined;
}

/** A text message's JSON object, or undefined for anything else. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseOpen(data: RawData, isBinary: boolean): OpenMessage {
  const bad = new Refusal(
    CLOSE.badRequest,
    'the first message must be {"type":"open","token":"gaol_…","machineId":"…","login":"ROOT"}',
  );
  const m = isBinary ? undefined : jsonObject(data.toString());
  if (m?.type !== "open" || typeof m.token !== "string" || typeof m.machineId !== "string") throw bad;
  const login = (m.login ?? "ROOT") as TerminalLogin;
  if (!TERMINAL_LOGINS.includes(login)) throw bad;
  return { token: m.token, machineId: m.machineId, login, size: sizeOf(m) };
}

function machineUuid(globalId: string): string | undefined {
  try {
    const { typename, id } = decodeGlobalID(globalId);
    return typename === "Machine" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A socket server for one kind of screen (terminal, desktop): each socket names its token and
 * machine in its first message (browsers cannot set a socket's headers) and is checked here, on
 * the socket, whatever the page showed. The owner controls; their course's staff watch; to anyone
 * else, admins too, the machine does not exist. `what` names the screen in refusals.
 */
export function screenServer(deps: ScreenDeps, what: string, admit: (admitted: Admitted) => Promise<void>) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 16 });

  const check = async (socket: WebSocket, message: OpenMessage): Promise<Admitted> => {
    const ctx = await deps.contextFor(`Bearer ${message.token}`);
    if (!ctx.viewer) throw new Refusal(CLOSE.unauthorized, `Not authorized: ${ctx.refusal}`);
    const notFound = new Refusal(CLOSE.notFound, `no machine ${message.machineId}: check its id (gaol ls)`);
    const id = machineUuid(message.machineId);
    const machine = id ? await machineById(deps.db, id) : undefined;
    if (!machine) throw notFound;
    const access = screenAccess({ userId: ctx.viewer.user.id, staffCourses: ctx.viewer.staffCourses }, machine);
    if (access === "NONE") throw notFound;
    if (!hasScreen(machine.state) || !machine.ipAddress)
      throw new Refusal(CLOSE.notReady, `the machine is ${machine.state}: its ${what} opens once it is READY`);
    return { socket, message, machine, access };
  };

  wss.on("connection", (socket: WebSocket) => {
    const timer = setTimeout(() => refuse(socket, new Refusal(CLOSE.badRequest, "no open message")), OPEN_WITHIN_MS);
    socket.once("message", (data, isBinary) => {
      clearTimeout(timer);
      void (async () => {
        try {
          await admit(await check(socket, parseOpen(data, isBinary)));
        } catch (error) {
          if (error instanceof Refusal) refuse(socket, error);
          else refuse(socket, new Refusal(CLOSE.failed, `the ${what} failed: ${(error as Error).message}`));
        }
      })();
    });
    socket.on("close", () => clearTimeout(timer));
  });
  return wss;
}

/** Logs the api in to the machine's sshd with its terminal key; a refusal the page can show when it cannot. */
export async function sshToMachine(deps: ScreenDeps, machine: Machine): Promise<ssh2.Client> {
  const { privateKey } = await terminalKey(deps.db);
  const target = { ip: machine.ipAddress as string, port: 22, hostKeys: machine.sshHostKeys };
  return connectSsh(deps.dial, target, privateKey).catch((error: Error) => {
    throw new Refusal(CLOSE.failed, `could not reach the machine's sshd: ${error.message}`);
  });
}

/** A socket message's bytes, however ws handed them over. */
export const bytesOf = (data: RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

/** Tells the page it is in, and as what. */
export function sendAttached(admitted: Admitted): boolean {
  const { socket, access, message } = admitted;
  if (socket.readyState !== socket.OPEN) return false;
  socket.send(JSON.stringify({ type: "attached", access, login: message.login }));
  return true;
}

function refuse(socket: WebSocket, refusal: Refusal): void {
  if (socket.readyState !== socket.OPEN) return;
  socket.send(JSON.stringify({ type: "error", code: refusal.code, message: refusal.message }));
  // A close reason is at most 123 bytes; the message above is the whole of it.
  let reason = refusal.message;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  socket.close(refusal.code, reason);
}
