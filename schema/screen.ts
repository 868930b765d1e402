import { type SCREEN_ACCESS, screenAccess } from "../core/index.js";
import { terminalKey } from "../services/terminal-key.js";
import { builder } from "./builder.js";
import { MachineRef } from "./machine.js";

const ScreenAccessEnum = builder.enumType("ScreenAccess", {
  description: "What the viewer may do in the machine's terminal and desktop in the page",
  values: {
    CONTROL: { description: "Type and click: the owner" },
    VIEW: { description: "Watch, never type: the course's staff" },
    NONE: { description: "Nothing" },
  } satisfies Record<(typeof SCREEN_ACCESS)[number], unknown>,
});

builder.objectFields(MachineRef, (t) => ({
  screenAccess: t.field({
    type: ScreenAccessEnum,
    description: "The terminal (websocket /terminal) and desktop this viewer gets; checked again on each socket",
    resolve: (m, _args, ctx) =>
      screenAccess(ctx.viewer && { userId: ctx.viewer.user.id, staffCourses: ctx.viewer.staffCourses }, m),
  }),
}));

builder.queryField("terminalPublicKey", (t) =>
  t.string({
    description:
      "AGENT: the api's ssh key for the page's terminals, for every guest's authorized_keys (the host restricts it)",
    authScopes: { agent: true },
    resolve: async (_root, _args, ctx) => (await terminalKey(ctx.db)).publicKey,
  }),
);
