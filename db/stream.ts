import type { Db } from "./client.js";
import type { Notifier, Watch } from "./notify.js";
import { eventsAfter, type StoredEvent } from "./queries/events.js";
import { imageEventsAfter, type StoredImageEvent } from "./queries/images.js";

const PAGE = 200;

/** A stream of events that can also hand them over synchronously once it has caught up. */
export interface EventStream<T> extends Ending<T> {
  /**
   * When the stream has caught up with what this process holds: gives each new event to `take`
   * in the turn it arrives (no promise per event), until `take` refuses one (that one stays
   * next()'s), the events skip ahead, or the stream ends; the promise resolves then. Undefined
   * when the stream has not caught up: pull with next().
   */
  follow(take: (event: T) => boolean): Promise<void> | undefined;
}

/**
 * A machine's events after afterSeq: the stored backlog, then live, in order,
 * with no gaps and no repeats. The watch is registered before the first page
 * is read, and the cursor only moves forward, so an event appended while a
 * page is read is picked up by the next page, never twice. Once caught up,
 * new events come from the notifier's shared tail instead of a query each.
 */
export function machineEventStream(
  db: Db,
  notifier: Notifier,
  machineId: string,
  afterSeq: number,
): EventStream<StoredEvent> {
  const watch = notifier.watchMachine(machineId);
  // Shared by next() and follow(): whichever hands an event over moves it.
  const position = { cursor: afterSeq };
  const events = machineEvents(db, notifier, machineId, position, watch);
  let stopFollowing: (() => void) | undefined;
  const ending = endingWith(() => {
    stopFollowing?.();
    watch.close();
  }, events);
  return Object.assign(ending, {
    follow(take: (event: StoredEvent) => boolean): Promise<void> | undefined {
      if (watch.closed || stopFollowing || notifier.lastSeq(machineId) !== position.cursor) return undefined;
      return new Promise<void>((resolve) => {
        const stop = () => {
          off();
          stopFollowing = undefined;
          resolve();
        };
        const off = notifier.follow(machineId, (fresh) => {
          for (const event of fresh) {
            if (event.seq <= position.cursor) continue;
            if (event.seq !== position.cursor + 1 || !take(event)) return stop();
            position.cursor = event.seq;
          }
        });
        stopFollowing = stop;
      });
    },
  });
}

async function* machineEvents(
  db: Db,
  notifier: Notifier,
  machineId: string,
  position: { cursor: number },
  watch: Watch,
): AsyncGenerator<StoredEvent> {
  try {
    let caughtUp = false;
    while (!watch.closed) {
      let buffered: StoredEvent[] | undefined = caughtUp
        ? notifier.bufferedAfter(machineId, position.cursor)
        : undefined;
      // Memory must continue exactly where we are; otherwise read the table.
      if (buffered?.length && buffered[0]?.seq !== position.cursor + 1) buffered = undefined;
      const page: StoredEvent[] = buffered ?? (await eventsAfter(db, machineId, position.cursor, PAGE));
      for (const event of page) {
        // follow() may have handed it over while this generator was suspended.
        if (event.seq <= position.cursor) continue;
        position.cursor = event.seq;
        yield event;
      }
      caughtUp = buffered !== undefined || page.length < PAGE;
      if (caughtUp) await watch.wait();
    }
  } finally {
    watch.close();
  }
}

/** An image's events after afterSeq: the stored backlog, then live, in order, with no gaps and no repeats. */
export function imageEventStream(
  db: Db,
  notifier: Notifier,
  imageId: string,
  afterSeq: number,
): AsyncIterableIterator<StoredImageEvent> {
  const watch = notifier.watchImage(imageId);
  return endingWith(() => watch.close(), imageEvents(db, imageId, afterSeq, watch));
}

async function* imageEvents(db: Db, imageId: string, afterSeq: number, watch: Watch): AsyncGenerator<StoredImageEvent> {
  try {
    for (let cursor = afterSeq; !watch.closed; ) {
      const page = await imageEventsAfter(db, imageId, cursor, PAGE);
      for (const event of page) {
        cursor = event.seq;
        yield event;
      }
      if (page.length < PAGE) await watch.wait();
    }
  } finally {
    watch.close();
  }
}

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
