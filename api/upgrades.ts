import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocketServer } from "ws";

/**
 * Routes server's websocket upgrades by path to several socket servers (ws's own `server` option
 * refuses every path but its own); an upgrade for any other path is answered 404.
 */
export function routeUpgrades(server: Server, routes: ReadonlyMap<string, WebSocketServer>): void {
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const wss = routes.get((req.url ?? "/").split("?")[0] as string);
    if (wss) wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    else socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });
}
