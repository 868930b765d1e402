import type { Ending } from "./ending.js";

/** A stream of events that can also hand them over synchronously once it has caught up. */
export interface LiveStream<T> extends Ending<T> {
  /**
   * When the stream has caught up with what this process holds: gives each new event to `take`
   * in the turn it arrives (no promise per event), until `take` refuses one (that one stays
   * next()'s), the events skip ahead, or the stream ends; the promise resolves then. Undefined
   * when the stream has not caught up: pull with next().
   */
  follow(take: (event: T) => boolean): Promise<void> | undefined;
}

/** Whether a subscription's source can hand events over in the turn they arrive (machine events can). */
export function isLiveStream<T>(events: AsyncIterator<T>): events is LiveStream<T> {
  return "follow" in events && typeof events.follow === "function";
}
