/**
 * What a watching viewer's VNC client may say to the desktop (RFC 6143, client to server): the
 * handshake, its pixel format and encodings, and requests for pictures. Keys, the pointer, the
 * clipboard and a new screen size are dropped here, in the api, whatever the page did; a message
 * this does not know ends the connection, since its length cannot be known to skip it.
 */
export class ViewOnlyFilter {
  private pending = Buffer.alloc(0);
  private phase: "version" | "security" | "vnc-auth" | "init" | "messages" = "version";

  /** The bytes of chunk (with what was held back) that may reach the server; an Error ends the connection. */
  push(chunk: Buffer): Buffer | Error {
    this.pending = Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const step = this.next();
      if (step instanceof Error) return step;
      if (step === undefined) break;
      const [length, pass, rewrite] = step;
      const message = this.pending.subarray(0, length);
      if (pass) out.push(rewrite ? rewrite(Buffer.from(message)) : message);
      this.pending = this.pending.subarray(length);
    }
    return Buffer.concat(out);
  }

  /** The next whole message's length and whether it passes; undefined until it has all arrived. */
  private next(): [number, boolean, ((m: Buffer) => Buffer)?] | Error | undefined {
    const b = this.pending;
    const need = (n: number) => b.length >= n;
    switch (this.phase) {
      case "version":
        if (!need(12)) return undefined;
        this.phase = "security";
        return [12, true];
      case "security": {
        if (!need(1)) return undefined;
        const type = b[0];
        if (type !== 1 && type !== 2) return new Error(`a watcher's VNC client chose security type ${type}`);
        this.phase = type === 2 ? "vnc-auth" : "init";
        return [1, true];
      }
      case "vnc-auth":
        if (!need(16)) return undefined;
        this.phase = "init";
        return [16, true];
      case "init":
        if (!need(1)) return undefined;
        this.phase = "messages";
        // Shared: a watcher never disconnects the owner's own viewer.
        return [1, true, () => Buffer.from([1])];
      case "messages":
        return this.message(b, need);
    }
  }

  private message(b: Buffer, need: (n: number) => boolean): [number, boolean] | Error | undefined {
    if (!need(1)) return undefined;
    switch (b[0]) {
      case 0: // SetPixelFormat
        return need(20) ? [20, true] : undefined;
      case 2: // SetEncodings
        return need(4) && need(4 + 4 * b.readUInt16BE(2)) ? [4 + 4 * b.readUInt16BE(2), true] : undefined;
      case 3: // FramebufferUpdateRequest
        return need(10) ? [10, true] : undefined;
      case 150: // EnableContinuousUpdates
        return need(10) ? [10, true] : undefined;
      case 248: // ClientFence
        return need(9) && need(9 + (b[8] as number)) ? [9 + (b[8] as number), true] : undefined;
      case 4: // KeyEvent
        return need(8) ? [8, false] : undefined;
      case 5: // PointerEvent
        return need(6) ? [6, false] : undefined;
      case 6: {
        // ClientCutText; a negative length is the extended clipboard's (its size is its absolute value).
        if (!need(8)) return undefined;
        const length = 8 + Math.abs(b.readInt32BE(4));
        return need(length) ? [length, false] : undefined;
      }
      case 255: // QEMU's: subtype 0 is the extended key event (noVNC's keys, when the server offers it)
        if (!need(2)) return undefined;
        if (b[1] !== 0) return new Error(`a watcher's VNC client sent QEMU message ${b[1]}, which gaol does not pass`);
        return need(12) ? [12, false] : undefined;
      case 251: // SetDesktopSize
        return need(8) && need(8 + 16 * (b[6] as number)) ? [8 + 16 * (b[6] as number), false] : undefined;
      default:
        return new Error(`a watcher's VNC client sent message type ${b[0]}, which gaol does not pass`);
    }
  }
}
