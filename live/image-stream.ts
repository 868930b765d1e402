import type { Db } from "../db/client.js";
import { imageEventsAfter, type StoredImageEvent } from "../db/queries/images.js";
import { endingWith } from "./ending.js";
import type { Notifier } from "./notifier.js";
import type { Watch } from "./watch.js";

const PAGE = 200;

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
