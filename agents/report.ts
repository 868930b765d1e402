import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiEvent } from "./api/events.js";

export interface SpooledEvent extends ApiEvent {
  machineId: string;
  agentSeq: number;
  at: string;
}

const BATCH = 200;

/**
 * Delivers events to the api in order, in batches, each with the agent's own
 * sequence number so a retried batch is stored once. Every event is written
 * to a spool file before it is sent, so events survive an unreachable api
 * and an agent restart.
 */
export class EventReporter {
  private pending: SpooledEvent[] = [];
  private seq = 0;
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
      this.pending = readFileSync(this.spool, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as SpooledEvent);
    }
    const saved = existsSync(this.counter) ? Number(readFileSync(this.counter, "utf8")) : 0;
    this.seq = Math.max(saved, this.pending.at(-1)?.agentSeq ?? 0);
  }

  get backlog(): number {
    return this.pending.length;
  }

  push(machineId: string, event: ApiEvent): void {
    const spooled: SpooledEvent = { machineId, agentSeq: ++this.seq, at: new Date().toISOString(), ...event };
    appendFileSync(this.spool, `${JSON.stringify(spooled)}\n`);
    writeFileSync(this.counter, String(this.seq));
    this.pending.push(spooled);
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
      this.rewriteSpool();
    }
  }

  private rewriteSpool(): void {
    const tmp = `${this.spool}.tmp`;
    writeFileSync(tmp, this.pending.map((e) => `${JSON.stringify(e)}\n`).join(""));
    renameSync(tmp, this.spool);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
