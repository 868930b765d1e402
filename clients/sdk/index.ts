// gaol's TypeScript SDK: works in Node (pass `webSocket` from the ws package on Node 20) and in browsers.
export { GaolClient, type Machine, MachineFailedError, type ReadyMachine } from "./client.js";
export { type ImageEvent, imageEvents, type MachineEvent, machineEvents } from "./events.js";
export { ago, stateLabel } from "./format.js";
export * from "./generated.js";
export { ApiError, type Endpoint, payloadOf, request } from "./request.js";
export {
  openMessage,
  openTerminal,
  screenSocketUrl,
  type Terminal,
  type TerminalAccess,
  type TerminalLogin,
  terminalPageUrl,
} from "./terminal.js";
