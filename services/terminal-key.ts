import ssh2 from "ssh2";
import type { Db } from "../db/client.js";
import { type ServiceKey, serviceKey, storeServiceKey } from "../db/queries/service-keys.js";

const NAME = "terminal";

/** Read once per database: a stored key never changes, and every terminal and desktop opened needs it. */
const known = new WeakMap<Db, Promise<ServiceKey>>();

/** The api's ssh identity for terminals and desktops, made by the first replica that needs it. */
export function terminalKey(db: Db): Promise<ServiceKey> {
  let key = known.get(db);
  if (!key) {
    key = loadOrMake(db);
    known.set(db, key);
    key.catch(() => known.delete(db));
  }
  return key;
}

async function loadOrMake(db: Db): Promise<ServiceKey> {
  const stored = await serviceKey(db, NAME);
  if (stored) return stored;
  const made = ssh2.utils.generateKeyPairSync("ed25519", { comment: "gaol-terminal" });
  return storeServiceKey(db, { name: NAME, privateKey: made.private, publicKey: made.public.trim() });
}
