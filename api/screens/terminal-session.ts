import type ssh2 from "ssh2";
import { TERMINAL_DETACHED_MS, TERMINAL_REPLAY_BYTES } from "../../core/index.js";
import type { Size } from "./screen-socket.js";

/** One attached browser tab: where output goes, and how it is let go. */
export interface Viewer {
  send(data: Buffer): void;
  /** The session is over (the shell exited, the machine went away, nobody came back). */
  end(reason: string): void;
}

/** Output kept in arrival order, the oldest dropped past a byte budget. */
class ReplayBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > this.limit && this.chunks.length > 1) this.bytes -= (this.chunks.shift() as Buffer).length;
  }
  all(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * A shell in a machine that outlives the sockets watching it (Coder's reconnecting PTY): a reload
 * or a second tab attaches and gets the recent output first; staff viewers attach to the same one.
 * It ends when its shell does, or once nobody has been attached for TERMINAL_DETACHED_MS.
 */
export class TerminalSession {
  private readonly viewers = new Set<Viewer>();
  private readonly replay = new ReplayBuffer(TERMINAL_REPLAY_BYTES);
  private idleTimer?: NodeJS.Timeout;
  private endedBecause?: string;
  readonly startedAt = new Date();

  constructor(
    private readonly client: ssh2.Client,
    private readonly channel: ssh2.ClientChannel,
    private readonly onEnd: () => void,
    private readonly detachedMs = TERMINAL_DETACHED_MS,
  ) {
    channel.on("data", (chunk: Buffer) => this.output(chunk));
    channel.stderr.on("data", (chunk: Buffer) => this.output(chunk));
    channel.on("close", () => this.end("the shell exited"));
    client.on("close", () => this.end("the connection to the machine closed"));
    client.on("error", (error) => this.end(`the connection to the machine failed: ${error.message}`));
    this.armIdle();
  }

  get ended(): boolean {
    return this.endedBecause !== undefined;
  }

  attach(viewer: Viewer): () => void {
    if (this.endedBecause !== undefined) {
      viewer.end(this.endedBecause);
      return () => undefined;
    }
    clearTimeout(this.idleTimer);
    const replay = this.replay.all();
    if (replay.length > 0) viewer.send(replay);
    this.viewers.add(viewer);
    return () => {
      if (this.viewers.delete(viewer) && this.viewers.size === 0) this.armIdle();
    };
  }

  input(data: Buffer): void {
    if (!this.ended) this.channel.write(data);
  }

  resize(size: Size): void {
    if (!this.ended) this.channel.setWindow(size.rows, size.cols, 0, 0);
  }

  end(reason: string): void {
    if (this.endedBecause !== undefined) return;
    this.endedBecause = reason;
    clearTimeout(this.idleTimer);
    for (const viewer of this.viewers) viewer.end(reason);
    this.viewers.clear();
    this.client.end();
    this.onEnd();
  }

  private output(chunk: Buffer): void {
    this.replay.push(chunk);
    for (const viewer of this.viewers) viewer.send(chunk);
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.end("nobody was attached for a while"), this.detachedMs);
    this.idleTimer.unref();
  }
}
