/**
 * The live-event path: LISTEN/NOTIFY fan-out, replay-then-live streams of machine and image
 * events, and their delivery over graphql-ws (payloads shared per event, viewer and operation;
 * each subscriber writing its own frames). schema/ and api/ import this file only; the files
 * beside it are this module's own.
 */
export { type Ending, endingWith } from "./ending.js";
export {
  type SocketServerContext,
  type SubscriberContext,
  type SubscriptionOptions,
  type Subscriptions,
  serveSubscriptions,
} from "./graphql-ws.js";
export { imageEventStream } from "./image-stream.js";
export type { LiveStream } from "./live-stream.js";
export { machineEventStream } from "./machine-stream.js";
export { Notifier } from "./notifier.js";
export type { SharedViewer } from "./shared-payloads.js";
