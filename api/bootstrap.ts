import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { ensureImage } from "../db/queries/images.js";
import { DEFAULT_IMAGE } from "../db/queries/machines.js";
import { createToken, ensureUser } from "../db/queries/users.js";
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
  await writeFile(path, `${await createToken(db, user.id)}\n`, { mode: 0o600 });
  return path;
}
