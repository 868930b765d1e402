import { type Actor, isUuid, NotFoundError, validateTokenRequest } from "../core/index.js";
import type { Db } from "../db/client.js";
import { audited } from "../db/queries/audit.js";
import { createToken, markRevoked, type Token, tokenById } from "../db/queries/tokens.js";
import { ensureUser, type Role } from "../db/queries/users.js";

export interface TokenRequest {
  user: string;
  role?: Role | null;
  hostUser?: string | null;
  expiresInSeconds?: number | null;
}

/** A new token for a user (made if missing): the secret, shown once, and the token as listed. Audited. */
export async function issueToken(db: Db, actor: Actor, input: TokenRequest) {
  return audited(db, { actor, action: "TOKEN_CREATE", target: { name: input.user } }, async (tx, target) => {
    const valid = validateTokenRequest(input);
    const user = await ensureUser(tx, { name: valid.user, role: valid.role ?? undefined, hostUser: valid.hostUser });
    const created = await createToken(tx, user.id, { expiresInSeconds: valid.expiresInSeconds });
    target.id = created.token.id;
    return created;
  });
}

/** Revokes a token the actor may see (otherwise NotFoundError); revoking it again changes nothing. Audited. */
export async function revokeToken(db: Db, actor: Actor, id: string, mayRevoke: (token: Token) => boolean) {
  return audited(db, { actor, action: "TOKEN_REVOKE", target: { id } }, async (tx, target) => {
    const token = isUuid(id) ? await tokenById(tx, id) : undefined;
    if (!token || !mayRevoke(token)) throw new NotFoundError("token");
    target.name = token.user.name;
    return { token: (await markRevoked(tx, id)) as Token };
  });
}
