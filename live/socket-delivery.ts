import type { WebSocket } from "ws";
import type { SharedSubscription } from "./shared-payloads.js";

/** Bytes a socket may have waiting in memory before its subscriptions wait for it to drain. */
const HIGH_WATER_BYTES = 1 << 20;

const DONE = { done: true, value: undefined as never } as const;

/**
 * Writes a subscription's results to its graphql-ws socket as graphql-transport-ws "next"
 * messages: a caught-up subscriber in the very turn its machine's new events arrive (its
 * stream's follow()), one catching up in the turn it takes each event. A thousand
 * subscribers of one machine wake together, and through graphql-ws's own emit every
 * step of it took a turn (and a promise) for all of them before the first socket got a byte.
 * Returns what graphql-ws iterates instead: it yields nothing, ends when the events end
 * (graphql-ws then sends "complete"), rejects when they fail (it sends "error"), and its
 * return() (the client's "complete", the socket's close) ends the events.
 */
export function deliverToSocket(socket: WebSocket, id: string, subscription: SharedSubscription) {
  const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  const message = (json: string) => `${head}${json}}`;
  const end = () => {
    void subscription.events.return?.()?.catch(() => undefined);
  };
  // A caught-up subscriber's event, written in the notifier's turn; refused (left to next()) when it cannot be now.
  const take = (event: unknown) => {
    if (socket.readyState !== socket.OPEN || socket.bufferedAmount >= HIGH_WATER_BYTES) return false;
    const payload = subscription.payload(event);
    if (typeof payload !== "string") return false;
    socket.send(message(payload));
    return true;
  };
  const pump = (async () => {
    try {
      for (;;) {
        const following = subscription.follow?.(take);
        if (following) await following;
        const step = await subscription.events.next();
        if (step.done) return;
        const payload = subscription.payload(step.value);
        const json = typeof payload === "string" ? payload : await payload;
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount < HIGH_WATER_BYTES) socket.send(message(json));
        // A client that reads slower than events come: its stream waits at its cursor until it catches up.
        else
          await new Promise<void>((resolve, reject) => socket.send(message(json), (e) => (e ? reject(e) : resolve())));
      }
    } finally {
      end();
    }
  })();
  // graphql-ws takes the failure through next(); until it asks, it is not an unhandled rejection.
  pump.catch(() => undefined);
  const results: AsyncIterableIterator<never> = {
    [Symbol.asyncIterator]: () => results,
    next: () => pump.then(() => DONE),
    return: async () => {
      end();
      return DONE;
    },
    throw: async () => {
      end();
      return DONE;
    },
  };
  return results;
}
