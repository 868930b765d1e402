import { FitAddon } from "@xterm/addon-fit";
import { Terminal as Xterm } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { openTerminal, type Terminal, type TerminalLogin } from "../../sdk/terminal.js";
import { h } from "./dom.js";

/** Waits before reconnecting a dropped socket: the session waits in the api, with its output. */
const RECONNECT_MS = [500, 1000, 2000, 5000];

/**
 * A machine's terminal in the page: xterm.js over the api's /terminal socket. A dropped socket
 * reconnects by itself and the api replays what the shell printed meanwhile; a staff viewer's
 * keystrokes go nowhere (the api drops them too).
 */
export class TerminalPanel {
  readonly element: HTMLElement;
  private readonly status = h("span", { class: "terminal-status", "data-testid": "terminal-status" });
  private readonly xterm = new Xterm({
    cursorBlink: true,
    fontSize: 14,
    fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    scrollback: 5000,
    lineHeight: 1.15,
  });
  private readonly fit = new FitAddon();
  private socket?: Terminal;
  private closed = false;
  private attempt = 0;
  private readonly resizeObserver: ResizeObserver;

  constructor(
    private readonly endpoint: { url: string; token: string },
    private readonly machineId: string,
    private readonly login: TerminalLogin,
  ) {
    const screen = h("div", { class: "terminal-screen", "data-testid": "terminal" });
    this.element = h("div", { class: "terminal" }, this.status, screen);
    this.xterm.loadAddon(this.fit);
    this.xterm.open(screen);
    this.xterm.onData((data) => this.socket?.send(data));
    this.xterm.onResize(({ cols, rows }) => this.socket?.resize(cols, rows));
    this.resizeObserver = new ResizeObserver(() => this.fitNow());
    this.resizeObserver.observe(screen);
    this.connect();
  }

  focus(): void {
    this.xterm.focus();
  }

  close(): void {
    this.closed = true;
    this.resizeObserver.disconnect();
    this.socket?.close();
    this.xterm.dispose();
  }

  private fitNow(): void {
    if (this.element.isConnected) this.fit.fit();
  }

  private connect(): void {
    this.fitNow();
    this.setStatus("connecting…");
    let replayed = false;
    this.socket = openTerminal(
      this.endpoint,
      { machineId: this.machineId, login: this.login, cols: this.xterm.cols, rows: this.xterm.rows },
      {
        data: (bytes) => {
          // The replay after a reconnect is the whole recent past: start from a clean screen.
          if (!replayed) this.xterm.reset();
          replayed = true;
          this.xterm.write(bytes);
        },
        attached: (access) => {
          this.attempt = 0;
          this.xterm.options.disableStdin = access !== "CONTROL";
          this.setStatus(access === "CONTROL" ? "connected" : "watching (read-only)", access.toLowerCase());
        },
        ended: (reason) => {
          this.closed = true;
          this.setStatus(`ended: ${reason}`, "ended");
        },
        closed: (code, message) => {
          if (this.closed) return;
          // The api's own refusals (bad token, no such machine, not READY) do not heal by retrying.
          if (code >= 4400 && code < 4500) {
            this.closed = true;
            this.setStatus(message || `refused (${code})`, "error");
            return;
          }
          const wait = RECONNECT_MS[Math.min(this.attempt++, RECONNECT_MS.length - 1)] as number;
          this.setStatus(`reconnecting… (${message || "the connection dropped"})`, "error");
          setTimeout(() => !this.closed && this.connect(), wait);
        },
      },
    );
  }

  private setStatus(text: string, kind = ""): void {
    this.status.textContent = text;
    this.status.className = `terminal-status ${kind}`;
  }
}
