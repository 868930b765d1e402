import type { WebSocket } from "ws";
import type { SharedSubscription } from "./shared-results.js";

/** Bytes a socket may have waiting in memory before its subscriptions wait for it to drain. */
const HIGH_WATER_BYTES = 1 << 20;

const DONE = { done: true, value: undefined as never } as const;

/**
 * Writes a subscription's results to its graphql-ws socket as graphql-transport-ws "next"
 * messages, each event in the same turn in which the subscriber takes it: a thousand
 * subscribers of one machine wake together, and through graphql-ws's own emit every
 * step of it took a turn for all of them before the first socket got a byte.
 * Returns what graphql-ws iterates instead: it yields nothing, ends when the events end
 * (graphql-ws then sends "complete"), rejects when they fail (it sends "error"), and its
 * return() (the client's "complete", the socket's close) ends the events.
 */
export function deliverToSocket(socket: WebSocket, id: string, subscription: SharedSubscription) {
  const head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  const end = () => {
    void subscription.events.return?.()?.catch(() => undefined);
  };
  const pump = (async () => {
    try {
      for (;;) {
        const step = await subscription.events.next();
        if (step.done) return;
        const payload = subscription.payload(step.value);
        const json = typeof payload === "string" ? payload : await payload;
        if (socket.readyState !== socket.OPEN) return;
        const message = `${head}${json}}`;
        if (socket.bufferedAmount < HIGH_WATER_BYTES) socket.send(message);
        // A client that reads slower than events come: its stream waits at its cursor until it catches up.
        else await new Promise<void>((resolve, reject) => socket.send(message, (e) => (e ? reject(e) : resolve())));
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
