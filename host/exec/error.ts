/** The one error type for a failed host command (modelled on execa's ExecaError). */
export class HostCommandError extends Error {
  override name = "HostCommandError";
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | undefined,
    readonly signal: string | undefined,
    readonly stderrTail: string,
    readonly timedOut: boolean,
    readonly stdout = "",
    options: { cause?: unknown } = {},
  ) {
    const how = timedOut
      ? "timed out"
      : signal
        ? `was killed by ${signal}`
        : exitCode !== undefined
          ? `exited with ${exitCode}`
          : "could not start";
    super(`${command.join(" ")} ${how}${stderrTail ? `: ${stderrTail}` : ""}`, options);
  }

  static from(command: readonly string[], error: unknown): HostCommandError {
    const e = error as {
      exitCode?: number;
      signal?: string;
      stderr?: unknown;
      timedOut?: boolean;
      message?: string;
      stdout?: unknown;
    };
    const stderr = typeof e.stderr === "string" && e.stderr ? e.stderr : (e.message ?? String(error));
    const stdout = typeof e.stdout === "string" ? e.stdout : "";
    return new HostCommandError(command, e.exitCode, e.signal, tail(stderr), e.timedOut === true, stdout, {
      cause: error,
    });
  }
}

function tail(text: string, lines = 5): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}
