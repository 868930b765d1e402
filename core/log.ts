/** What a log line may carry besides its words: the machine, host or request it is about, and how bad. */
export interface LogFields {
  machineId?: string;
  host?: string;
  level?: "info" | "warn" | "error";
  [key: string]: unknown;
}

/** One line for whoever runs gaol: words for people, fields for a log pipeline (GAOL_LOG_FORMAT=json). */
export type Log = (line: string, fields?: LogFields) => void;
