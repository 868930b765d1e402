import ssh2 from "ssh2";
import type { Db } from "../db/client.js";
import { replaceServiceKey, type ServiceKey, serviceKey, storeServiceKey } from "../db/queries/service-keys.js";

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
  if (stored && parses(stored)) return stored;
  const key = { name: NAME, ...wellFormedKeyPair() };
  // One a buggy generator stored before cannot log in anywhere: it is replaced, not kept.
  return stored ? replaceServiceKey(db, key) : storeServiceKey(db, key);
}

const parses = (key: { privateKey: string; publicKey: string }) =>
  !(ssh2.utils.parseKey(key.privateKey) instanceof Error) && !(ssh2.utils.parseKey(key.publicKey) instanceof Error);

/** ssh2 1.17 drops a leading zero byte of about 1 in 256 ed25519 keys it makes (ssh2#1513): such a key is made again. */
export function wellFormedKeyPair(): { privateKey: string; publicKey: string } {
  for (;;) {
    const made = ssh2.utils.generateKeyPairSync("ed25519", { comment: "gaol-terminal" });
    const pair = { privateKey: made.private, publicKey: made.public.trim() };
    if (parses(pair)) return pair;
  }
}
