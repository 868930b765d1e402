import { MEMORY_MIB } from "../defaults.js";
import type { Rule } from "./check.js";

export const SSH_PUBLIC_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/;
/** One line of an authorized_keys file, nothing else (it is written into the machine as is). */
export const sshPublicKey: Rule<string> = (key) =>
  SSH_PUBLIC_KEY.test(key) ? undefined : "is not an OpenSSH public key";

export const memoryMiB: Rule<number> = (mib) =>
  Number.isInteger(mib) && mib >= MEMORY_MIB.min && mib <= MEMORY_MIB.max
    ? undefined
    : `must be an integer from ${MEMORY_MIB.min} to ${MEMORY_MIB.max}`;

/** A whole number within bounds, said in the words a user reads. */
export const integerWithin =
  ({ min, max }: { min: number; max: number }): Rule<number> =>
  (n) =>
    Number.isInteger(n) && n >= min && n <= max ? undefined : `must be an integer from ${min} to ${max}`;

export const positiveInteger: Rule<number> = (n) =>
  Number.isInteger(n) && n > 0 ? undefined : "must be a positive integer";

export const syncInterval: Rule<number> = (seconds) =>
  Number.isInteger(seconds) && seconds >= 60 ? undefined : "must be a whole number of seconds, at least 60";

/** A token's lifetime: a whole number of seconds, up to ten years. */
export const TOKEN_LIFETIME_MAX_SECONDS = 10 * 366 * 86_400;
export const tokenLifetime: Rule<number> = (seconds) =>
  Number.isInteger(seconds) && seconds > 0 && seconds <= TOKEN_LIFETIME_MAX_SECONDS
    ? undefined
    : "must be a whole number of seconds, from 1 to ten years";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Whether id can be a row's id (Postgres refuses anything else in a uuid column). */
export const isUuid = (id: string): boolean => UUID.test(id);

/** A stream's resume cursor: the seq of the last event seen, as a string; absent or empty is the start. */
export function parseCursor(after: string | null | undefined): number | undefined {
  if (after == null || after === "") return 0;
  const seq = Number(after);
  return Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
}
