import type { MachineEvent } from "../sdk/events.js";
import { span } from "../sdk/format.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** One line for an event worth showing while a machine boots, or undefined. */
export function describeEvent(event: MachineEvent): string | undefined {
  switch (event.__typename) {
    case "MachineStateChanged":
      return `${event.state}${event.reason ? ` (${event.reason})` : ""}`;
    case "BootStageReached":
      return `  ${event.stage}${event.uptimeSeconds != null ? ` at ${event.uptimeSeconds.toFixed(2)} s` : ""}`;
    case "BootStepFailed":
      return `  ${event.step} failed: ${event.failure}`;
    case "DhcpLeaseAcquired":
      return `  lease ${event.ip}`;
    case "HomeMounted":
      return `  home ${event.path}`;
    case "LeaseWarning":
      return `  warning: ${event.message}`;
    case "MachineLimitReached":
      return `  limit: stopped at ${event.max} ${event.limit === "memory" ? "MiB of memory" : "processes"}`;
    case "SshReady":
      return `  ssh verified at ${event.ip}:${event.port} (${event.hostKeys[0]?.fingerprintSha256 ?? "no key"})`;
    case "MachineUnresponsive":
      return `unresponsive: ${event.probeFailure} (${event.failures} probes failed in a row; a reboot usually helps)`;
    case "MachineResponsive":
      return `responsive again after ${Math.round(event.unresponsiveSeconds)} s`;
    case "MachineExpiring":
      return `warning: ${event.message}`;
    case "MachineLeaseExtended":
      return `lease extended by ${span(event.bySeconds)} by ${event.by}, to ${new Date(event.endsAt).toLocaleTimeString()}`;
    default:
      return undefined;
  }
}

/**
 * Boot progress on stderr: on a terminal, each step is ticked off under a live
 * spinner line with the elapsed time; piped, plain `gaol: ` lines, one per step.
 */
export class Progress {
  private readonly started = Date.now();
  private readonly live: boolean;
  private current = "waiting for the api";
  private frame = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly title: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.live = Boolean(out.isTTY) && process.env.TERM !== "dumb";
    if (this.live) this.timer = setInterval(() => this.draw(), 100);
    else this.out.write(`gaol: ${title}\n`);
  }

  get elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)} s`;
  }

  step(line: string): void {
    if (!this.live) {
      this.out.write(`gaol: ${line}\n`);
      return;
    }
    this.clear();
    this.out.write(`  \x1b[32m✓\x1b[0m ${line.trim()} \x1b[2m+${this.elapsed}\x1b[0m\n`);
    this.current = line.trim();
    this.draw();
  }

  /** Replaces the live line (a terminal) or prints a plain line (piped). */
  update(line: string): void {
    if (!this.live) {
      this.out.write(`gaol: ${line}\n`);
      return;
    }
    this.current = line;
    this.draw();
  }

  done(line: string): void {
    this.stop();
    this.out.write(this.live ? `\x1b[1m${line}\x1b[0m\n` : `gaol: ${line}\n`);
  }

  fail(line: string): void {
    this.stop();
    this.out.write(this.live ? `  \x1b[31m✗\x1b[0m ${line}\n` : `gaol: ${line}\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.live) this.clear();
  }

  private clear(): void {
    this.out.write("\r\x1b[2K");
  }

  private draw(): void {
    const spinner = SPINNER[this.frame++ % SPINNER.length];
    this.clear();
    this.out.write(`${spinner} ${this.title}: ${this.current} \x1b[2m${this.elapsed}\x1b[0m`);
  }
}

/** `[########------------] 40%` */
export function bar(percent: number, width = 20): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(percent).padStart(3)}%`;
}

export function mebibytes(bytes: number | null | undefined): string {
  return bytes == null ? "-" : `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
}
