import { builder } from "./builder.js";
import "./errors.js";
import "./user.js";
import "./token.js";
import "./image.js";
import "./host.js";
import "./machine.js";
import "./events.js";
import "./audit.js";
import "./course.js";
import "./lab-check.js";
import "./activity.js";
import "./screen.js";

/** The whole schema: each domain file registers its types, queries, mutations and subscriptions. */
export const schema = builder.toSchema({ sortSchema: true });
export type { Context, Viewer } from "./context.js";
