import type { Db } from "../db/client.js";
import { eventsAfter, type StoredEvent } from "../db/queries/events.js";
import { endingWith } from "./ending.js";
import type { LiveStream } from "./live-stream.js";
import type { Notifier } from "./notifier.js";
import type { Watch } from "./watch.js";

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
): LiveStream<StoredEvent> {
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
