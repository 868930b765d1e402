import { decodeGlobalID } from "@pothos/plugin-relay";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import {
  hasScreen,
  type ScreenAccess,
  screenAccess,
  TERMINAL_LOGINS,
  type TerminalLogin,
  terminalCommand,
} from "../../core/index.js";
import type { Db } from "../../db/client.js";
import { type Machine, machineById } from "../../db/queries/machines.js";
import type { Context } from "../../schema/index.js";
import { terminalKey } from "../../services/terminal-key.js";
import { connectSsh, type DialMachine } from "./ssh.js";
import { type Size, TerminalSession } from "./terminal-session.js";

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
/** Output a slow tab may have waiting before it is let go (it reconnects and gets the replay). */
const VIEWER_HIGH_WATER = 4 << 20;

interface OpenMessage {
  token: string;
  machineId: string;
  login: TerminalLogin;
  size?: Size;
}

class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function parseOpen(data: RawData, isBinary: boolean): OpenMessage {
  const bad = new Refusal(
    CLOSE.badRequest,
    'the first message must be {"type":"open","token":"gaol_…","machineId":"…","login":"ROOT"}',
  );
  if (isBinary) throw bad;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(data.toString());
  } catch {
    throw bad;
  }
  if (m?.type !== "open" || typeof m.token !== "string" || typeof m.machineId !== "string") throw bad;
  const login = (m.login ?? "ROOT") as TerminalLogin;
  if (!TERMINAL_LOGINS.includes(login)) throw bad;
  return { token: m.token, machineId: m.machineId, login, size: sizeOf(m) };
}

function sizeOf(m: Record<string, unknown>): Size | undefined {
  const { cols, rows } = m;
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 1000;
  return ok(cols) && ok(rows) ? { cols, rows } : undefined;
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
 * The terminals of the page at /terminal: each socket names its token and machine in its first
 * message, and is checked here, on the socket, whatever the page showed. The owner types; their
 * course's staff watch the owner's open terminal; to anyone else the machine does not exist.
 */
export function serveTerminals(deps: ScreenDeps) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 16 });
  const sessions = new Map<string, Promise<TerminalSession>>();

  const sessionOf = (machine: Machine, login: TerminalLogin, size: Size | undefined) => {
    const key = `${machine.id}:${login}`;
    const running = sessions.get(key);
    if (running) return running;
    const made = (async () => {
      const { privateKey } = await terminalKey(deps.db);
      const target = { ip: machine.ipAddress as string, port: 22, hostKeys: machine.sshHostKeys };
      const client = await connectSsh(deps.dial, target, privateKey).catch((error: Error) => {
        throw new Refusal(CLOSE.failed, `could not reach the machine's sshd: ${error.message}`);
      });
      const pty = { term: "xterm-256color", cols: size?.cols ?? 80, rows: size?.rows ?? 24 };
      const command = terminalCommand(login);
      const channel = await new Promise<import("ssh2").ClientChannel>((resolve, reject) => {
        const done = (error: Error | undefined, ch: import("ssh2").ClientChannel) =>
          error ? reject(error) : resolve(ch);
        // UTF-8 typed in the page: readline in the C locale would take é's bytes as Meta keys.
        const env = { LANG: "C.UTF-8" };
        if (command === undefined) client.shell(pty, { env }, done);
        else client.exec(command, { pty, env }, done);
      }).catch((error: Error) => {
        client.end();
        throw new Refusal(CLOSE.failed, `the machine's sshd refused a terminal: ${error.message}`);
      });
      return new TerminalSession(client, channel, () => {
        if (sessions.get(key) === made) sessions.delete(key);
      });
    })();
    sessions.set(key, made);
    made.catch(() => sessions.get(key) === made && sessions.delete(key));
    return made;
  };

  /** The owner's open terminal on machine (a staff viewer watches it), the newest first. */
  const ownersSession = async (machine: Machine): Promise<TerminalSession | undefined> => {
    const open = await Promise.all(
      TERMINAL_LOGINS.map((login) => sessions.get(`${machine.id}:${login}`)?.catch(() => undefined)),
    );
    return open
      .filter((s): s is TerminalSession => s !== undefined && !s.ended)
      .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())[0];
  };

  const open = async (socket: WebSocket, message: OpenMessage) => {
    const ctx = await deps.contextFor(`Bearer ${message.token}`);
    if (!ctx.viewer) throw new Refusal(CLOSE.unauthorized, `Not authorized: ${ctx.refusal}`);
    const notFound = new Refusal(CLOSE.notFound, `no machine ${message.machineId}: check its id (gaol ls)`);
    const id = machineUuid(message.machineId);
    const machine = id ? await machineById(deps.db, id) : undefined;
    if (!machine) throw notFound;
    const viewer = { userId: ctx.viewer.user.id, staffCourses: ctx.viewer.staffCourses };
    const access: ScreenAccess = screenAccess(viewer, machine);
    if (access === "NONE") throw notFound;
    if (!hasScreen(machine.state) || !machine.ipAddress)
      throw new Refusal(CLOSE.notReady, `the machine is ${machine.state}: a terminal opens once it is READY`);
    const session =
      access === "CONTROL" ? await sessionOf(machine, message.login, message.size) : await ownersSession(machine);
    if (!session) throw new Refusal(CLOSE.notReady, "its owner has no terminal open: it shows here once they open one");
    if (socket.readyState !== socket.OPEN) return;
    socket.send(JSON.stringify({ type: "attached", access, login: message.login }));
    const detach = session.attach({
      send: (data) => {
        if (socket.bufferedAmount > VIEWER_HIGH_WATER) socket.close(CLOSE.failed, "too far behind: reconnect");
        else socket.send(data);
      },
      end: (reason) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: "ended", reason }));
        socket.close(1000, "ended");
      },
    });
    if (access === "CONTROL" && message.size) session.resize(message.size);
    socket.on("message", (data, isBinary) => {
      if (access !== "CONTROL") return;
      if (isBinary) session.input(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
      else {
        const m = (() => {
          try {
            return JSON.parse(data.toString()) as Record<string, unknown>;
          } catch {
            return undefined;
          }
        })();
        const size = m?.type === "resize" ? sizeOf(m) : undefined;
        if (size) session.resize(size);
      }
    });
    socket.on("close", detach);
  };

  wss.on("connection", (socket: WebSocket) => {
    const timer = setTimeout(() => refuse(socket, new Refusal(CLOSE.badRequest, "no open message")), OPEN_WITHIN_MS);
    socket.once("message", (data, isBinary) => {
      clearTimeout(timer);
      void (async () => {
        try {
          await open(socket, parseOpen(data, isBinary));
        } catch (error) {
          if (error instanceof Refusal) refuse(socket, error);
          else refuse(socket, new Refusal(CLOSE.failed, `the terminal failed: ${(error as Error).message}`));
        }
      })();
    });
    socket.on("close", () => clearTimeout(timer));
  });

  return {
    wss,
    /** Ends every terminal (the api is stopping). */
    async dispose(): Promise<void> {
      for (const s of await Promise.allSettled(sessions.values()))
        if (s.status === "fulfilled") s.value.end("the api is stopping");
      for (const socket of wss.clients) socket.terminate();
      wss.close();
    },
  };
}

function refuse(socket: WebSocket, refusal: Refusal): void {
  if (socket.readyState !== socket.OPEN) return;
  socket.send(JSON.stringify({ type: "error", code: refusal.code, message: refusal.message }));
  // A close reason is at most 123 bytes; the message above is the whole of it.
  let reason = refusal.message;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  socket.close(refusal.code, reason);
}
