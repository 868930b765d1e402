/** What a Reverter.run error carries when undoing the steps before it failed too. */
export function undoFailuresOf(error: unknown): Error[] {
  return (error as { undoFailures?: Error[] } | undefined)?.undoFailures ?? [];
}

/**
 * Incus's reverter: each completed step registers its undo; on failure they
 * run in reverse, on success they are dropped.
 */
export class Reverter {
  private undos: Array<{ what: string; undo: () => Promise<void> | void }> = [];

  add(what: string, undo: () => Promise<void> | void): void {
    this.undos.push({ what, undo });
  }

  /** Keep everything: the multi-step change succeeded. */
  success(): void {
    this.undos = [];
  }

  /** Undo every registered step, newest first; undo failures are collected, not thrown. */
  async revert(): Promise<Error[]> {
    const failures: Error[] = [];
    for (const { what, undo } of this.undos.reverse()) {
      try {
        await undo();
      } catch (error) {
        failures.push(new Error(`undo ${what}: ${(error as Error).message}`));
      }
    }
    this.undos = [];
    return failures;
  }

  /**
   * Runs body; if it throws, reverts and rethrows the original error (its class decides what the
   * caller does), with any undo that failed in its message and `undoFailures`: what is left behind
   * is reported, never dropped.
   */
  static async run<T>(body: (reverter: Reverter) => Promise<T>): Promise<T> {
    const reverter = new Reverter();
    try {
      const result = await body(reverter);
      reverter.success();
      return result;
    } catch (error) {
      const failures = await reverter.revert();
      if (failures.length > 0 && error instanceof Error) {
        Object.assign(error, { undoFailures: failures });
        error.message += `; undoing it failed too (${failures.map((f) => f.message).join("; ")})`;
      }
      throw error;
    }
  }
}
