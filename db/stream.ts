import type { Db } from "./client.js";
import type { Notifier, Watch } from "./notify.js";
import { eventsAfter, type StoredEvent } from "./queries/events.js";
import { imageEventsAfter, type StoredImageEvent } from "./queries/images.js";

const PAGE = 200;

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
): AsyncIterableIterator<StoredEvent> {
  const watch = notifier.watchMachine(machineId);
  return endingWith(watch, machineEvents(db, notifier, machineId, afterSeq, watch));
}

async function* machineEvents(
  db: Db,
  notifier: Notifier,
  machineId: string,
  afterSeq: number,
  watch: Watch,
): AsyncGenerator<StoredEvent> {
  try {
    let cursor = afterSeq;
    let caughtUp = false;
    while (!watch.closed) {
      let buffered: StoredEvent[] | undefined = caughtUp ? notifier.bufferedAfter(machineId, cursor) : undefined;
      // Memory must continue exactly where we are; otherwise read the table.
      if (buffered?.length && buffered[0]?.seq !== cursor + 1) buffered = undefined;
      const page: StoredEvent[] = buffered ?? (await eventsAfter(db, machineId, cursor, PAGE));
      for (const event of page) {
        cursor = event.seq;
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
  return endingWith(watch, imageEvents(db, imageId, afterSeq, watch));
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

/**
 * The generator, ended at once by return() even while it waits for its watch: a generator's
 * own return() waits behind its pending next(), which only a new event would settle, so an
 * unsubscribed watcher would linger until the machine's next event.
 */
function endingWith<T>(watch: Watch, events: AsyncGenerator<T>): AsyncIterableIterator<T> {
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => events.next(),
    return: (value?: unknown) => {
      watch.close();
      return events.return(value as never);
    },
    throw: (error?: unknown) => {
      watch.close();
      return events.throw(error);
    },
  };
  return iterator;
}
