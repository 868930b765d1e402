import { type Actor, NotFoundError } from "../core/index.js";
import type { Db } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { type Host, setCordoned } from "../db/queries/hosts.js";

/** ADMIN: no new machines on the host (or open again); its running machines are not touched. Audited. */
export async function cordonHost(db: Db, actor: Actor, name: string, cordoned: boolean): Promise<Host> {
  return audited(db, { actor, action: "HOST_CORDON", target: { name } }, async (tx, target) => {
    const host = await setCordoned(tx, name, cordoned);
    if (!host) throw new NotFoundError(`host ${name}`);
    target.id = host.id;
    return host;
  });
}
