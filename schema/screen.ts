import { NotFoundError, type SCREEN_ACCESS, screenAccess } from "../core/index.js";
import type { Machine } from "../db/queries/machines.js";
import { shareScreen } from "../services/machines.js";
import { terminalKey } from "../services/terminal-key.js";
import { builder } from "./builder.js";
import { actorOf, type Context, spendMutation } from "./context.js";
import { limited } from "./errors.js";
import { MachineRef, payload } from "./machine.js";

const ScreenAccessEnum = builder.enumType("ScreenAccess", {
  description: "What the viewer may do in the machine's terminal and desktop in the page",
  values: {
    CONTROL: { description: "Type and click: the owner, and the course's staff while the owner shares the screen" },
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
  screenShared: t.boolean({
    description: "Whether the owner lets the course's staff type too (shareMachineScreen); otherwise they watch",
    resolve: (m) => m.screenSharedAt !== null,
  }),
}));

/** Only the owner shares their own screen: an admin's or a teacher's say-so would be the student's keys. */
const mayShare = (ctx: Context) => (machine: Machine) => machine.ownerId === ctx.viewer?.user.id;

builder.mutationField("shareMachineScreen", (t) =>
  t.field({
    type: payload("ShareMachineScreenPayload"),
    description:
      "The owner lets their course's staff type in this machine's terminal and desktop (shared: false: they watch again); sockets opened afterwards get it",
    authScopes: { user: true },
    args: {
      id: t.arg.globalID({ required: true, for: [MachineRef] }),
      shared: t.arg.boolean({ required: true }),
    },
    errors: { types: limited(NotFoundError), directResult: true, union: { name: "ShareMachineScreenResult" } },
    resolve: async (_root, { id, shared }, ctx) => {
      spendMutation(ctx);
      return { machine: await shareScreen(ctx.db, actorOf(ctx), id.id, shared, mayShare(ctx)) };
    },
  }),
);

builder.queryField("terminalPublicKey", (t) =>
  t.string({
    description:
      "AGENT: the api's ssh key for the page's terminals, for every guest's authorized_keys (the host restricts it)",
    authScopes: { agent: true },
    resolve: async (_root, _args, ctx) => (await terminalKey(ctx.db)).publicKey,
  }),
);
