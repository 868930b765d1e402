import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { appendFile, rename, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MachineEvent } from "../core/index.js";

/** An event on its way to the api: the machine's global id, the agent's sequence number, when it happened. */
export type SpooledEvent = MachineEvent & {
  machineId: string;
  agentSeq: number;
  at: string;
};

const BATCH = 200;
/** agentSeqs reserved on disk at a time: the counter is written once per this many events, not for each. */
const SEQ_BLOCK = 1000;

/**
 * Delivers events to the api in order, in batches, each with the agent's own
 * sequence number so a retried batch is stored once. Every event is written
 * to a spool file as it is sent, so events survive an unreachable api and an
 * agent restart. The spool is written asynchronously and in order, and a send
 * does not wait for it: a console line is not held up behind the disk (an
 * event the api has is safe; one it has not is in the spool by the time the
 * retry comes, and stop() waits for the writes).
 */
export class EventReporter {
  private pending: SpooledEvent[] = [];
  private seq = 0;
  /** The highest agentSeq the counter file allows; a restart continues after it. */
  private reserved: number;
  /** Spool writes, in order (appends, and the rewrite after each delivered batch). */
  private spooling: Promise<void> = Promise.resolve();
  private flushing?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  private readonly spool: string;
  private readonly counter: string;

  constructor(
    dir: string,
    private readonly send: (events: SpooledEvent[]) => Promise<void>,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.spool = join(dir, "events.jsonl");
    this.counter = join(dir, "agent-seq");
    if (existsSync(this.spool)) {
      for (const line of readFileSync(this.spool, "utf8").split("\n")) {
        if (!line) continue;
        const event = JSON.parse(line) as SpooledEvent;
        // A rewrite that ran before an append it had already included leaves that event twice.
        if (event.agentSeq > (this.pending.at(-1)?.agentSeq ?? 0)) this.pending.push(event);
      }
    }
    const saved = existsSync(this.counter) ? Number(readFileSync(this.counter, "utf8")) : 0;
    this.seq = Math.max(saved, this.pending.at(-1)?.agentSeq ?? 0);
    this.reserved = this.seq;
  }

  get backlog(): number {
    return this.pending.length;
  }

  push(machineId: string, event: MachineEvent): void {
    if (this.seq >= this.reserved) {
      // Synchronous and rare: no agentSeq is used before the counter on disk covers it.
      this.reserved = this.seq + SEQ_BLOCK;
      writeFileSync(this.counter, String(this.reserved));
    }
    const spooled: SpooledEvent = { machineId, agentSeq: ++this.seq, at: new Date().toISOString(), ...event };
    this.pending.push(spooled);
    this.spoolWrite(() => appendFile(this.spool, `${JSON.stringify(spooled)}\n`));
    this.kick();
  }

  /** Starts a flush unless one is running; failures retry with backoff. */
  kick(): void {
    if (this.stopped || this.flushing) return;
    this.flushing = this.flushAll().finally(() => {
      this.flushing = undefined;
    });
  }

  /** Resolves once everything pushed so far has been delivered (or the reporter stopped). */
  async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.stopped) {
      this.kick();
      await this.flushing;
      if (this.pending.length > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async flushAll(): Promise<void> {
    while (this.pending.length > 0 && !this.stopped) {
      const batch = this.pending.slice(0, BATCH);
      try {
        await this.send(batch);
      } catch (error) {
        const wait = Math.min(200 * 2 ** this.failures++, 5000);
        this.log(`reporting ${batch.length} events failed (${(error as Error).message}); retrying in ${wait} ms`);
        this.retryTimer = setTimeout(() => this.kick(), wait);
        return;
      }
      this.failures = 0;
      this.pending = this.pending.slice(batch.length);
      this.spoolWrite(() => this.rewriteSpool());
    }
  }

  /** Queues a spool write after the ones before it; a failed write is logged, and the next rewrite repairs the file. */
  private spoolWrite(write: () => Promise<void>): void {
    this.spooling = this.spooling
      .then(write)
      .catch((error: Error) => this.log(`writing the event spool failed: ${error.message}`));
  }

  /** The spool becomes what is still pending when this write runs (usually nothing: an empty file). */
  private async rewriteSpool(): Promise<void> {
    if (this.pending.length === 0) return truncate(this.spool);
    const tmp = `${this.spool}.tmp`;
    await writeFile(tmp, this.pending.map((e) => `${JSON.stringify(e)}\n`).join(""));
    await rename(tmp, this.spool);
  }

  /** Stops sending; resolves once the spool on disk is up to date. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.spooling;
  }
}
