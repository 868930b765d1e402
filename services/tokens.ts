import { isUuid, NotFoundError, validateTokenRequest } from "../core/index.js";
import type { Db } from "../db/client.js";
import { createToken, markRevoked, type Token, tokenById } from "../db/queries/tokens.js";
import { ensureUser, type Role } from "../db/queries/users.js";

export interface TokenRequest {
  user: string;
  role?: Role | null;
  hostUser?: string | null;
  expiresInSeconds?: number | null;
}

/** A new token for a user (made if missing): the secret, shown once, and the token as listed. */
export async function issueToken(db: Db, input: TokenRequest) {
  const valid = validateTokenRequest(input);
  return db.transaction(async (tx) => {
    const user = await ensureUser(tx, { name: valid.user, role: valid.role ?? undefined, hostUser: valid.hostUser });
    return createToken(tx, user.id, { expiresInSeconds: valid.expiresInSeconds });
  });
}

/** Revokes a token the caller may see (otherwise NotFoundError); revoking it again changes nothing. */
export async function revokeToken(db: Db, id: string, mayRevoke: (token: Token) => boolean) {
  return db.transaction(async (tx) => {
    const token = isUuid(id) ? await tokenById(tx, id) : undefined;
    if (!token || !mayRevoke(token)) throw new NotFoundError("token");
    return { token: (await markRevoked(tx, id)) as Token };
  });
}
