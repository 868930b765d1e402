// The domain: gaol's words and rules. Imported by every other folder; imports none of them.

export * from "./activity.js";
export * from "./audit.js";
export * from "./courses.js";
export * from "./defaults.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./fields.js";
export * from "./limits.js";
export * from "./log.js";
export * from "./machine-row.js";
export * from "./placement.js";
export * from "./rate-limit.js";
export * from "./rules/check.js";
export * from "./rules/courses.js";
export * from "./rules/image-source.js";
export * from "./rules/names.js";
export * from "./rules/requests.js";
export * from "./rules/values.js";
export * from "./states.js";
export * from "./terminal.js";
export * from "./tokens.js";
export * from "./vocabulary.js";
