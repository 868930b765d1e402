import type ssh2 from "ssh2";
import { TERMINAL_LOGINS, type TerminalLogin, terminalCommand } from "../../core/index.js";
import type { Machine } from "../../db/queries/machines.js";
import {
  type Admitted,
  bytesOf,
  CLOSE,
  jsonObject,
  Refusal,
  type ScreenDeps,
  type Size,
  screenServer,
  sendAttached,
  sizeOf,
  sshToMachine,
} from "./screen-socket.js";
import { TerminalSession } from "./terminal-session.js";

/** Output a slow tab may have waiting before it is let go (it reconnects and gets the replay). */
const VIEWER_HIGH_WATER = 4 << 20;

/**
 * The terminals of the page at /terminal: the owner types in a shell of their own (one per login,
 * kept across reconnects); their course's staff watch the owner's newest one.
 */
export function serveTerminals(deps: ScreenDeps) {
  const sessions = new Map<string, Promise<TerminalSession>>();

  const sessionOf = (machine: Machine, login: TerminalLogin, size: Size | undefined) => {
    const key = `${machine.id}:${login}`;
    const running = sessions.get(key);
    if (running) return running;
    const made = (async () => {
      const client = await sshToMachine(deps, machine);
      const pty = { term: "xterm-256color", cols: size?.cols ?? 80, rows: size?.rows ?? 24 };
      const command = terminalCommand(login);
      const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => {
        const done = (error: Error | undefined, ch: ssh2.ClientChannel) => (error ? reject(error) : resolve(ch));
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

  const admit = async (admitted: Admitted) => {
    const { socket, message, machine, access } = admitted;
    const session =
      access === "CONTROL" ? await sessionOf(machine, message.login, message.size) : await ownersSession(machine);
    if (!session) throw new Refusal(CLOSE.notReady, "its owner has no terminal open: it shows here once they open one");
    if (!sendAttached(admitted)) return;
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
      if (isBinary) {
        session.input(bytesOf(data));
        return;
      }
      const m = jsonObject(data.toString());
      const size = m?.type === "resize" ? sizeOf(m) : undefined;
      if (size) session.resize(size);
    });
    socket.on("close", detach);
  };

  const wss = screenServer(deps, "terminal", admit);
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
