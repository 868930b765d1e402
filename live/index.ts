/**
 * The live-event path: LISTEN/NOTIFY fan-out, replay-then-live streams of machine and image
 * events. schema/ and api/ import this file only; the files beside it are this module's own.
 */
export { type Ending, endingWith } from "./ending.js";
export { imageEventStream } from "./image-stream.js";
export type { LiveStream } from "./live-stream.js";
export { machineEventStream } from "./machine-stream.js";
export { Notifier } from "./notifier.js";
