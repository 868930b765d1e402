import { type FSWatcher, watch } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { LineSplitter } from "./parse.js";

/**
 * Follows a console log file from an offset, calling onLine for each complete
 * line. Files, not pipes, carry the console so a machine outlives its agent.
 */
export class ConsoleFollower {
  private handle?: FileHandle;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private splitter = new LineSplitter();
  private decoder = new StringDecoder("utf8");
  /** Byte offset just past the last complete line handed out. */
  private lineEnd: number;
  private reading = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string, endOffset: number) => void,
    public offset = 0,
  ) {
    this.lineEnd = offset;
  }

  async start(): Promise<void> {
    this.handle = await open(this.path, "r");
    this.watcher = watch(this.path, () => void this.read().catch(() => undefined));
    // fs.watch can miss events on some filesystems; a slow poll backs it up.
    this.timer = setInterval(() => void this.read().catch(() => undefined), 250);
    await this.read();
  }

  /** Reads whatever has been appended since the last read. */
  async read(): Promise<void> {
    if (!this.handle || this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, this.offset);
          if (bytesRead === 0) break;
          this.offset += bytesRead;
          for (const line of this.splitter.push(this.decoder.write(buffer.subarray(0, bytesRead)))) {
            this.lineEnd += Buffer.byteLength(line) + 1;
            this.onLine(line, this.lineEnd);
          }
        }
      } while (this.again);
    } finally {
      this.reading = false;
    }
  }

  /** Reads to the end, emits an unfinished last line, and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.read();
    while (this.reading) await new Promise((r) => setTimeout(r, 5));
    this.stopped = true;
    for (const line of this.splitter.flush()) this.onLine(line, this.offset);
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}
