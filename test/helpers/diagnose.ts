import { readFile } from "node:fs/promises";
import { afterEach } from "vitest";

/** When a test fails, prints the tails of the files that explain it (consoles, the DHCP server's log). */
export function printOnFailure(files: () => string[] | Promise<string[]>, bytes = 6000): void {
  afterEach(async ({ task }) => {
    if (task.result?.state !== "fail") return;
    for (const file of await files()) {
      const text = await readFile(file, "utf8").catch((error: Error) => `(${error.message})`);
      console.log(`--- ${file} (last ${bytes} bytes) ---\n${text.slice(-bytes)}`);
    }
  });
}
