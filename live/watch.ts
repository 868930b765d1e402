/** Something happened (to a machine, an image) since the last wait; waiting is cheap and never misses a change. */
export class Watch {
  private dirty = false;
  private wake?: () => void;
  private ended = false;

  constructor(private readonly onClose: () => void) {}

  get closed(): boolean {
    return this.ended;
  }

  notify(): void {
    this.dirty = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Resolves at once if something happened since the last call or the watch is closed, else at
   * the next notification or close. A plain promise, no async function: a thousand watchers of
   * one machine wake together, and each extra promise turn is a thousand more.
   */
  wait(): Promise<void> {
    if (this.dirty || this.ended) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.dirty = false;
        resolve();
      };
    });
  }

  /** Stops watching and wakes a pending wait (its stream then ends). Idempotent. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.onClose();
    this.notify();
  }
}
