import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { DEFAULT_IMAGE } from "../core/index.js";
import type { Db } from "../db/client.js";
import { ensureImage } from "../db/queries/images.js";
import { createToken, userByToken } from "../db/queries/tokens.js";
import { ensureUser } from "../db/queries/users.js";
import { users } from "../db/schema.js";

/**
 * First start: the default image exists, and if no admin does, one is made and
 * its token written to `<stateDir>/admin-token` (0600). Returns that path when written.
 */
export async function bootstrap(db: Db, stateDir: string): Promise<string | undefined> {
  await ensureImage(db, DEFAULT_IMAGE, "Debian with sshd, built by gaol from the host's mirror");
  const [admin] = await db.select({ id: users.id }).from(users).where(eq(users.role, "ADMIN")).limit(1);
  const path = join(stateDir, "admin-token");
  if (admin && existsSync(path)) return undefined;
  const user = admin ? { id: admin.id } : await ensureUser(db, { name: "admin", role: "ADMIN" });
  await mkdir(stateDir, { recursive: true, mode: 0o711 });
  await writeFile(path, `${(await createToken(db, user.id)).secret}\n`, { mode: 0o600 });
  return path;
}

/** The token of this host's own agent (`gaol serve`), made once and kept in `<stateDir>/agent-token`. */
export async function localAgentToken(db: Db, stateDir: string, hostName: string): Promise<string> {
  const path = join(stateDir, "agent-token");
  const saved = existsSync(path) ? (await readFile(path, "utf8")).trim() : "";
  if (saved && (await userByToken(db, saved))?.role === "AGENT") return saved;
  const agent = await ensureUser(db, { name: hostName.toLowerCase().replace(/[^a-z0-9._-]/g, "-"), role: "AGENT" });
  const { secret: token } = await createToken(db, agent.id);
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return token;
}
