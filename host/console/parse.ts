import type { MachineEvent } from "../events.js";

/** A stage line, from startenv or (with the kernel's printk time before it) from gaol's kernel. */
const STAGE_LINE = /^(?:\[\s*(\d+\.\d+)\] )?gaol: stage=([a-z-]+)(?: (.*))?$/;
const FIELD = /([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** `a=1 b="x y"` → { a: "1", b: "x y" } */
export function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [, key, raw] of text.matchAll(FIELD)) {
    if (key === undefined || raw === undefined) continue;
    fields[key] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
  }
  return fields;
}

export function isIpv4(text: string): boolean {
  const m = IPV4.exec(text);
  return m?.slice(1).every((octet) => Number(octet) <= 255) ?? false;
}

/**
 * Turns one console line into events: always the line itself, and for
 * startenv's stage lines the typed event they announce. Malformed stage
 * lines stay plain console output.
 */
export function parseConsoleLine(rawLine: string): MachineEvent[] {
  const line = rawLine.replace(/\r$/, "");
  const events: MachineEvent[] = [{ kind: "console", text: line }];
  const match = STAGE_LINE.exec(line.trim());
  if (!match) return events;
  const stage = match[2] as string;
  const fields = parseFields(match[3] ?? "");
  const t = fields.t ?? match[1];
  const uptime = t !== undefined && t !== "?" ? Number(t) : undefined;
  events.push({ kind: "stage", stage, uptime: Number.isFinite(uptime) ? uptime : undefined, fields });
  switch (stage) {
    case "lease": {
      const ip = fields.ip ?? "";
      const mac = (fields.mac ?? "").toLowerCase();
      if (isIpv4(ip) && MAC.test(mac)) {
        const lease = Number(fields.lease);
        events.push({ kind: "lease", ip, mac, leaseSeconds: lease > 0 ? lease : undefined });
      }
      break;
    }
    case "home":
      if (fields.path?.startsWith("/")) events.push({ kind: "home", path: fields.path });
      break;
    case "sshd":
      events.push({ kind: "sshd", port: Number(fields.port ?? 22) || 22 });
      break;
    case "failed":
      events.push({ kind: "failure", step: fields.step ?? "unknown", reason: fields.reason ?? "" });
      break;
  }
  return events;
}

/** Splits a growing byte stream into lines, keeping the unfinished tail for later. */
export class LineSplitter {
  private pending = "";

  push(chunk: string): string[] {
    const text = this.pending + chunk;
    const lines = text.split("\n");
    this.pending = lines.pop() ?? "";
    return lines;
  }

  /** The unfinished last line, if any (at process exit). */
  flush(): string[] {
    const rest = this.pending;
    this.pending = "";
    return rest ? [rest] : [];
  }
}
