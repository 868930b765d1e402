import type ssh2 from "ssh2";
import { DESKTOP_IMAGE, VNC_PORT } from "../../core/index.js";
import { ViewOnlyFilter } from "./rfb-view-only.js";
import {
  type Admitted,
  bytesOf,
  CLOSE,
  Refusal,
  type ScreenDeps,
  screenServer,
  sendAttached,
  sshToMachine,
} from "./screen-socket.js";

/**
 * The desktops of the page at /desktop: raw VNC (RFB) between noVNC in the page and the guest's
 * Xvnc, which listens on the guest's loopback only; the api reaches it through an ssh channel
 * (the terminal key may open no other port). A watcher's keys and pointer stop here.
 */
export function serveDesktops(deps: ScreenDeps) {
  const clients = new Set<ssh2.Client>();
  const admit = async (admitted: Admitted) => {
    const { socket, machine, access } = admitted;
    const client = await sshToMachine(deps, machine);
    clients.add(client);
    client.on("close", () => clients.delete(client));
    const vnc = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      client.forwardOut("127.0.0.1", 0, "127.0.0.1", VNC_PORT, (error, channel) =>
        error ? reject(error) : resolve(channel),
      ),
    ).catch(() => {
      client.end();
      throw new Refusal(
        CLOSE.notReady,
        `no desktop runs in this machine: machines of the ${DESKTOP_IMAGE} image have one (gaol up --image ${DESKTOP_IMAGE})`,
      );
    });
    const filter = access === "VIEW" ? new ViewOnlyFilter() : undefined;
    const end = () => {
      client.end();
      if (socket.readyState === socket.OPEN) socket.close(1000, "the desktop closed");
    };
    vnc.on("data", (chunk: Buffer) => {
      if (socket.readyState === socket.OPEN) socket.send(chunk);
    });
    vnc.on("close", end);
    client.on("error", end);
    socket.on("message", (data, isBinary) => {
      if (!isBinary) return;
      const chunk = bytesOf(data);
      const allowed = filter ? filter.push(chunk) : chunk;
      if (allowed instanceof Error) {
        socket.close(CLOSE.badRequest, allowed.message.slice(0, 120));
        return;
      }
      if (allowed.length > 0) vnc.write(allowed);
    });
    socket.on("close", () => client.end());
    if (!sendAttached(admitted)) client.end();
  };
  const wss = screenServer(deps, "desktop", admit);
  return {
    wss,
    async dispose(): Promise<void> {
      for (const client of clients) client.end();
      for (const socket of wss.clients) socket.terminate();
      wss.close();
    },
  };
}
