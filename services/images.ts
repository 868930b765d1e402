import { type Actor, validateImageSync } from "../core/index.js";
import type { Db } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { requestImageSync } from "../db/queries/images.js";

/** An admin's request for a new version of an image, audited in the same transaction. */
export async function syncImage(
  db: Db,
  actor: Actor,
  input: { name: string; source: string; intervalSeconds?: number | null },
) {
  return audited(db, { actor, action: "IMAGE_SYNC", target: { name: input.name } }, async (tx, target) => {
    const requested = await requestImageSync(tx, validateImageSync(input));
    target.id = requested.sync.id;
    return requested;
  });
}
