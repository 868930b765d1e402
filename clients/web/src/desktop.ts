import RFB from "@novnc/novnc";
import { openMessage, screenSocketUrl } from "../../sdk/terminal.js";
import { h } from "./dom.js";

/**
 * A machine's desktop in the page: noVNC on the api's /desktop socket, which the api bridges to
 * the guest's Xvnc. The socket is checked by its first message; noVNC gets it once it is in.
 */
export class DesktopPanel {
  readonly element: HTMLElement;
  private readonly status = h("span", { class: "terminal-status", "data-testid": "desktop-status" });
  private readonly screen = h("div", { class: "desktop-screen", "data-testid": "desktop" });
  private rfb?: RFB;
  private socket: WebSocket;

  constructor(endpoint: { url: string; token: string }, machineId: string) {
    this.element = h("div", { class: "terminal" }, this.status, this.screen);
    this.setStatus("connecting…");
    this.socket = new WebSocket(screenSocketUrl(endpoint, "desktop"));
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => this.socket.send(openMessage(endpoint.token, { machineId }));
    let refusal = "";
    this.socket.onmessage = ({ data }) => {
      if (typeof data !== "string") return;
      const message = JSON.parse(data) as { type: string; access?: string; message?: string };
      if (message.type === "error") refusal = message.message ?? "";
      if (message.type !== "attached") return;
      // noVNC takes the socket over from here: every message after this one is VNC.
      const rfb = new RFB(this.screen, this.socket, { shared: true });
      rfb.scaleViewport = true;
      rfb.viewOnly = message.access !== "CONTROL";
      rfb.addEventListener("connect", () =>
        this.setStatus(rfb.viewOnly ? "watching (view only)" : "connected", rfb.viewOnly ? "view" : ""),
      );
      rfb.addEventListener("disconnect", () => this.setStatus("disconnected: close and open it again", "error"));
      this.rfb = rfb;
    };
    this.socket.onclose = ({ code, reason }) => {
      if (!this.rfb) this.setStatus(refusal || reason || `closed (${code})`, "error");
    };
  }

  close(): void {
    this.rfb?.disconnect();
    this.socket.close();
  }

  private setStatus(text: string, kind = ""): void {
    this.status.textContent = text;
    this.status.className = `terminal-status ${kind}`;
  }
}
