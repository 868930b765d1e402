import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../exec/run.js";

/** Where gaol's settings live for its units: GAOL_* lines, as in the README's table. */
export const ENVIRONMENT_FILE = "/etc/default/gaol";

const common = (gaol: string, command: string, description: string) => `[Unit]
Description=${description}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=-${ENVIRONMENT_FILE}
ExecStart=${gaol} ${command}
Restart=on-failure
RestartSec=2
# Machines' kernels must outlive a restart of gaol (the next start re-adopts them): stop only gaol itself.
KillMode=process
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;

/** The unit files, by name: `gaol serve` (api and this host's agent), or `gaol agent` alone for other hosts. */
export function systemdUnits(gaol: string): Record<string, string> {
  return {
    "gaol.service": common(gaol, "serve", "gaol: the api and this host's agent (gaol serve)"),
    "gaol-agent.service": common(
      gaol,
      "agent",
      "gaol: this host's agent for an api elsewhere (GAOL_API, GAOL_AGENT_TOKEN)",
    ),
  };
}

/**
 * Writes the units into dir (and an empty settings file when there is none), then has systemd
 * read them when it runs this host. Returns the files written; enabling one is the admin's choice.
 */
export async function writeSystemdUnits(gaol: string, dir = "/etc/systemd/system", settings = ENVIRONMENT_FILE) {
  const written: string[] = [];
  for (const [name, text] of Object.entries(systemdUnits(gaol))) {
    const file = join(dir, name);
    if ((await readFile(file, "utf8").catch(() => "")) !== text) await writeFile(file, text, { mode: 0o644 });
    written.push(file);
  }
  if (!existsSync(settings))
    await writeFile(settings, "# GAOL_* settings for gaol.service and gaol-agent.service (see the README).\n", {
      mode: 0o600,
    });
  if (existsSync("/run/systemd/system")) await run("systemctl", ["daemon-reload"]);
  return written;
}
