import { describe, expect, it } from "vitest";
import { ViewOnlyFilter } from "../../api/screens/rfb-view-only.js";

// What a watching viewer's VNC client sends, byte by byte as noVNC does (RFC 6143).
const handshake = Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1]), Buffer.from([0])]);
const pixelFormat = Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.alloc(16, 7)]);
const encodings = Buffer.from([2, 0, 0, 2, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0x21]);
const updateRequest = Buffer.from([3, 1, 0, 0, 0, 0, 5, 0, 3, 32]);
const key = Buffer.from([4, 1, 0, 0, 0, 0, 0, 0x74]);
const pointer = Buffer.from([5, 1, 0, 10, 0, 20]);
const qemuKey = Buffer.from([255, 0, 0, 1, 0, 0, 0, 0x74, 0, 0, 0, 0x14]);
const cutText = Buffer.concat([Buffer.from([6, 0, 0, 0, 0, 0, 0, 3]), Buffer.from("abc")]);
const extendedCut = Buffer.concat([Buffer.from([6, 0, 0, 0, 0xff, 0xff, 0xff, 0xf8]), Buffer.alloc(8, 1)]);
const fence = Buffer.from([248, 0, 0, 0, 0, 0, 0, 1, 1, 9]);
const resize = Buffer.concat([Buffer.from([251, 0, 5, 0, 3, 32, 1, 0]), Buffer.alloc(16)]);

describe("a watcher's VNC input", () => {
  it("passes the handshake (made shared), the picture's requests and fences, and drops every input", () => {
    const filter = new ViewOnlyFilter();
    const all = [
      handshake,
      pixelFormat,
      encodings,
      key,
      updateRequest,
      pointer,
      qemuKey,
      cutText,
      extendedCut,
      fence,
      resize,
    ];
    const out = filter.push(Buffer.concat(all));
    const shared = Buffer.from(handshake);
    shared[13] = 1;
    expect(out).toEqual(Buffer.concat([shared, pixelFormat, encodings, updateRequest, fence]));
  });

  it("gives the same answer when the bytes come one at a time", () => {
    const filter = new ViewOnlyFilter();
    const input = Buffer.concat([handshake, key, updateRequest, pointer, qemuKey, updateRequest]);
    const out: Buffer[] = [];
    for (const byte of input) {
      const passed = filter.push(Buffer.from([byte]));
      if (passed instanceof Error) throw passed;
      out.push(passed);
    }
    const shared = Buffer.from(handshake);
    shared[13] = 1;
    expect(Buffer.concat(out)).toEqual(Buffer.concat([shared, updateRequest, updateRequest]));
  });

  it("ends the connection at a message it cannot measure, rather than guess", () => {
    const filter = new ViewOnlyFilter();
    expect(filter.push(Buffer.concat([handshake, Buffer.from([99, 1, 2, 3])]))).toBeInstanceOf(Error);
    expect(new ViewOnlyFilter().push(Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([16])]))).toBeInstanceOf(
      Error,
    );
  });
});
