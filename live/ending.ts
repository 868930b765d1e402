/** An iterator whose return() ends it at once, also while it waits for events. */
export interface Ending<T> extends AsyncIterableIterator<T> {
  return(value?: unknown): Promise<IteratorResult<T>>;
}

/**
 * The generator, ended at once by return() even while it waits: a generator's own return()
 * waits behind its pending next(), which only a new event would settle, so an unsubscribed
 * stream would linger until the next event. `stop` wakes the wait, and the generator ends.
 */
export function endingWith<T>(stop: () => void, events: AsyncGenerator<T>): Ending<T> {
  const iterator: Ending<T> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => events.next(),
    return: (value?: unknown) => {
      stop();
      return events.return(value as never);
    },
    throw: (error?: unknown) => {
      stop();
      return events.throw(error);
    },
  };
  return iterator;
}
