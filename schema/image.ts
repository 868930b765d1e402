import { type Image, listImages, versionsOf } from "../db/queries/images.js";
import { builder } from "./builder.js";

const ImageVersionRef = builder
  .objectRef<{ version: number; sizeBytes: number | null; createdAt: Date }>("ImageVersion")
  .implement({
    fields: (t) => ({
      version: t.exposeInt("version"),
      sizeBytes: t.exposeFloat("sizeBytes", { nullable: true }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
    }),
  });

export const ImageRef = builder.objectRef<Image>("Image").implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    versions: t.field({
      type: [ImageVersionRef],
      resolve: async (image, _args, ctx) => versionsOf(ctx.db, image.id),
    }),
  }),
});

builder.queryField("images", (t) =>
  t.field({
    type: [ImageRef],
    authScopes: { loggedIn: true },
    resolve: (_root, _args, ctx) => listImages(ctx.db),
  }),
);
