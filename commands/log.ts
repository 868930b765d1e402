import { hostname } from "node:os";
import { pino } from "pino";
import type { Log, LogFields } from "../core/index.js";

/**
 * The log of a command: with GAOL_LOG_FORMAT=json, pino's JSON lines on stderr (service, host,
 * time, level, msg and the line's fields: a machine's id, say), for journald or a log pipeline;
 * otherwise `prefix: words key=value` lines for a person at a terminal.
 */
export function commandLog(service: string, prefix: string, env: NodeJS.ProcessEnv = process.env): Log {
  if (env.GAOL_LOG_FORMAT === "json") {
    const logger = pino(
      { base: { service, host: hostname() }, timestamp: pino.stdTimeFunctions.isoTime },
      pino.destination({ fd: 2, sync: true }),
    );
    return (line, fields) => {
      const { level = "info", ...rest } = fields ?? {};
      logger[level](rest, line);
    };
  }
  return (line, fields) => console.error(`${prefix}: ${line}${suffix(line, fields)}`);
}

/** The fields the words do not already say, as key=value. */
function suffix(line: string, fields: LogFields | undefined): string {
  const pairs = Object.entries(fields ?? {}).filter(
    ([key, value]) => key !== "level" && value !== undefined && !line.includes(String(value)),
  );
  return pairs.length ? ` ${pairs.map(([key, value]) => `${key}=${String(value)}`).join(" ")}` : "";
}
