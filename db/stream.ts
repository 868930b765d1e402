import type { Db } from "./client.js";
import type { Notifier } from "./notify.js";
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
export async function* machineEventStream(
  db: Db,
  notifier: Notifier,
  machineId: string,
  afterSeq: number,
  signal?: AbortSignal,
): AsyncGenerator<StoredEvent> {
  const watch = notifier.watchMachine(machineId);
  try {
    let cursor = afterSeq;
    let caughtUp = false;
    while (!signal?.aborted) {
      let buffered: StoredEvent[] | undefined = caughtUp ? notifier.bufferedAfter(machineId, cursor) : undefined;
      // Memory must continue exactly where we are; otherwise read the table.
      if (buffered?.length && buffered[0]?.seq !== cursor + 1) buffered = undefined;
      const page: StoredEvent[] = buffered ?? (await eventsAfter(db, machineId, cursor, PAGE));
      for (const event of page) {
        cursor = event.seq;
        yield event;
      }
      caughtUp = buffered !== undefined || page.length < PAGE;
      if (caughtUp) await watch.wait(signal);
    }
  } finally {
    watch.close();
  }
}

/** An image's events after afterSeq: the stored backlog, then live, in order, with no gaps and no repeats. */
export async function* imageEventStream(
  db: Db,
  notifier: Notifier,
  imageId: string,
  afterSeq: number,
): AsyncGenerator<StoredImageEvent> {
  const watch = notifier.watchImage(imageId);
  try {
    for (let cursor = afterSeq; ; ) {
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
