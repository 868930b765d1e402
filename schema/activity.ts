import { ACTIVITY_KINDS } from "../core/index.js";
import { recordActivity } from "../services/activity.js";
import { builder } from "./builder.js";
import { MachineRef } from "./machine.js";

const ActivityKindEnum = builder.enumType("ActivityKind", {
  description: "What the host saw: CPU time, or traffic on the LAN, past what its own health probes cost",
  values: ACTIVITY_KINDS,
});

builder.objectFields(MachineRef, (t) => ({
  lastActivityAt: t.expose("lastActivityAt", {
    type: "DateTime",
    nullable: true,
    description: "When the host last saw it used (sampled about every 30 s; nothing the guest says counts)",
  }),
  lastActivityKind: t.field({
    type: ActivityKindEnum,
    nullable: true,
    description: "What that use was",
    resolve: (m) => m.lastActivityKind ?? null,
  }),
}));

const MachineActivityInput = builder.inputType("MachineActivityInput", {
  fields: (t) => ({
    machineId: t.globalID({ required: true, for: [MachineRef] }),
    at: t.field({ type: "DateTime", required: true }),
    kind: t.field({ type: ActivityKindEnum, required: true }),
  }),
});

builder.mutationField("reportMachineActivity", (t) =>
  t.int({
    description: "AGENT: this host saw these machines used; returns how many moved their lastActivityAt",
    authScopes: { agent: true },
    args: { activity: t.arg({ type: [MachineActivityInput], required: true }) },
    resolve: (_root, { activity }, ctx) =>
      recordActivity(
        ctx.db,
        ctx.viewer?.hostId as string,
        activity.map((a) => ({ machineId: a.machineId.id, at: a.at, kind: a.kind })),
      ),
  }),
);
