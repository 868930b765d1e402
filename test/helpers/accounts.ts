import { chmod } from "node:fs/promises";
import { run } from "../../host/exec/run.js";

export interface TestAccount {
  name: string;
  uid: number;
  home: string;
}

/** A host account with a 0700 home, made afresh (removed first if a crashed run left it). */
export async function createAccount(name: string, uid: number): Promise<TestAccount> {
  await removeAccount(name);
  const home = `/home/${name}`;
  await run("useradd", ["--uid", String(uid), "--user-group", "--create-home", "--home-dir", home, name]);
  await chmod(home, 0o700);
  return { name, uid, home };
}

export async function removeAccount(name: string): Promise<void> {
  await run("userdel", ["--remove", "--force", name]).catch(() => undefined);
}
