/**
 * One worker per key: run(key) starts the key's work, or, while it is running, asks for one run
 * more after it, however often it is asked meanwhile (the work reads the newest input itself, so
 * three changes that arrive during a run make one more run, not three). Keys run concurrently;
 * a key's runs never overlap: this is the per-key lock.
 */
export class KeyedQueue {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly onError: (key: string, error: unknown) => void,
  ) {}

  run(key: string): void {
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    // Started in a microtask, so work that asks for its own key again is already seen as running.
    const runs = Promise.resolve().then(async () => {
      try {
        do {
          this.again.delete(key);
          await this.work(key).catch((error: unknown) => this.onError(key, error));
        } while (this.again.has(key));
      } finally {
        this.running.delete(key);
      }
    });
    this.running.set(key, runs);
  }

  busy(key: string): boolean {
    return this.running.has(key);
  }

  /** Resolves once no key has work running or asked for. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }
}
