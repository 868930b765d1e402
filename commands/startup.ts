import { HostConfigError } from "../core/index.js";

/**
 * Runs a command's start. A host that cannot run machines as configured (HostConfigError) is
 * one plain line per problem on stderr and exit 1, after `cleanup`, instead of a stack trace.
 */
export async function starting<T>(
  log: (line: string) => void,
  start: () => Promise<T>,
  cleanup: () => Promise<unknown> = async () => undefined,
): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (!(error instanceof HostConfigError)) throw error;
    for (const problem of error.problems) log(problem);
    await cleanup().catch(() => undefined);
    process.exit(1);
  }
}
