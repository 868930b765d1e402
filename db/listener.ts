import postgres from "postgres";

const MAX_DELAY_MS = 2000;

/**
 * LISTEN on a connection of its own that comes back whenever Postgres does. postgres.js's own
 * `listen` tries once when its connection closes and gives up for good if Postgres is still
 * down; here the channels are listened again with backoff until it answers, and `onResumed`
 * hears of it, because what was notified meanwhile is lost (NOTIFY is only ever a wake-up).
 */
export class Listener {
  private readonly channels = new Map<string, Set<(payload: string) => void>>();
  private readonly resumed = new Set<(lostAt: Date) => void>();
  private readonly sql: postgres.Sql;
  private relistening = false;
  private closedAgain = false;
  private ended = false;

  constructor(url: string) {
    // onnotify is the option postgres.js's own listen uses (3.4.9, pinned); its types leave it out.
    const options: postgres.Options<Record<string, never>> & { onnotify: (channel: string, payload: string) => void } =
      {
        max: 1,
        idle_timeout: undefined,
        max_lifetime: null,
        fetch_types: false,
        onnotice: () => undefined,
        onnotify: (channel, payload) => {
          for (const fn of this.channels.get(channel) ?? []) fn(payload);
        },
        onclose: () => void this.relisten(),
      };
    this.sql = postgres(url, options);
  }

  async listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>> {
    const listeners = this.channels.get(channel) ?? new Set();
    const first = listeners.size === 0;
    listeners.add(fn);
    this.channels.set(channel, listeners);
    if (first) await this.sql`listen ${this.sql(channel)}`;
    return async () => {
      listeners.delete(fn);
      if (listeners.size > 0 || this.channels.get(channel) !== listeners) return;
      this.channels.delete(channel);
      await this.sql`unlisten ${this.sql(channel)}`.catch(() => undefined);
    };
  }

  /** Calls fn with when its connection was lost, each time listening resumes after that. */
  onResumed(fn: (lostAt: Date) => void): () => void {
    this.resumed.add(fn);
    return () => this.resumed.delete(fn);
  }

  private async relisten(): Promise<void> {
    if (this.relistening) this.closedAgain = true;
    if (this.ended || this.relistening || this.channels.size === 0) return;
    this.relistening = true;
    const lostAt = new Date();
    try {
      for (let delay = 100; !this.ended; delay = Math.min(delay * 2, MAX_DELAY_MS)) {
        this.closedAgain = false;
        try {
          for (const channel of this.channels.keys()) await this.sql`listen ${this.sql(channel)}`;
          // Closed again while listening: the channels listened before that are not listened now.
          if (!this.closedAgain) break;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.relistening = false;
    }
    if (!this.ended) for (const fn of this.resumed) fn(lostAt);
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.sql.end({ timeout: 5 });
  }
}
