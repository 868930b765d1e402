import { join } from "node:path";
import { run } from "../exec/run.js";

/** The mconsole socket UML creates in its umid directory. */
export function mconsoleSocket(umlDir: string, umid: string): string {
  return join(umlDir, umid, "mconsole");
}

/**
 * Sends one mconsole command with a deadline. uml_mconsole itself waits for
 * its reply forever, and the reply is lost across network namespaces, so it
 * runs in the machine's namespace and is killed at the deadline.
 */
export async function mconsole(
  socket: string,
  command: string[],
  options: { netns?: string; timeoutMs?: number } = {},
): Promise<string> {
  const { stdout } = await run("uml_mconsole", [socket, ...command], {
    netns: options.netns,
    timeoutMs: options.timeoutMs ?? 1000,
  });
  return stdout;
}
