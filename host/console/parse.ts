import { type MachineEvent, machineEvent } from "../../core/index.js";

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

function isIpv4(text: string): boolean {
  const m = IPV4.exec(text);
  return m?.slice(1).every((octet) => Number(octet) <= 255) ?? false;
}

/** What gaol's kernel says when its DHCP client got no answer (net/ipv4/ipconfig.c, at error level). */
const KERNEL_DHCP_RETRY = /IP-Config: Reopening network devices/;
const KERNEL_DHCP_GAVE_UP = /IP-Config: Auto-configuration of network failed/;

/**
 * Turns one console line into events: always the line itself, and for startenv's stage lines
 * (and the kernel's DHCP complaints) the typed event they announce. Malformed stage lines stay
 * plain console output. Everything here is what the guest printed: the caller decides what to
 * believe (a lease only counts once ssh at that address proves the machine's host key).
 */
export function parseConsoleLine(rawLine: string): MachineEvent[] {
  const line = rawLine.replace(/\r$/, "");
  const events: MachineEvent[] = [machineEvent("ConsoleOutput", { text: line })];
  if (KERNEL_DHCP_RETRY.test(line)) {
    events.push(machineEvent("LeaseWarning", { message: "no DHCP answer on the LAN yet; the kernel asks again" }));
  } else if (KERNEL_DHCP_GAVE_UP.test(line)) {
    events.push(
      machineEvent("LeaseWarning", {
        message: "no DHCP server answered on the machine's LAN; check that the bridge (GAOL_BRIDGE) has one",
        gaveUp: line.replace(/^\[\s*\d+\.\d+\]\s*/, ""),
      }),
    );
  }
  const match = STAGE_LINE.exec(line.trim());
  if (!match) return events;
  const stage = match[2] as string;
  const fields = parseFields(match[3] ?? "");
  const t = fields.t ?? match[1];
  const uptime = t !== undefined && t !== "?" ? Number(t) : undefined;
  events.push(
    machineEvent("BootStageReached", { stage, ...(Number.isFinite(uptime) ? { uptimeSeconds: uptime } : {}) }),
  );
  switch (stage) {
    case "lease": {
      const ip = fields.ip ?? "";
      const mac = (fields.mac ?? "").toLowerCase();
      if (isIpv4(ip) && MAC.test(mac)) {
        const lease = Number(fields.lease);
        events.push(machineEvent("DhcpLeaseAcquired", { ip, mac, ...(lease > 0 ? { leaseSeconds: lease } : {}) }));
      }
      break;
    }
    case "home":
      if (fields.path?.startsWith("/")) events.push(machineEvent("HomeMounted", { path: fields.path }));
      break;
    case "sshd":
      events.push(machineEvent("SshdStarted", { port: Number(fields.port ?? 22) || 22 }));
      break;
    case "failed":
      events.push(machineEvent("BootStepFailed", { step: fields.step ?? "unknown", reason: fields.reason ?? "" }));
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
