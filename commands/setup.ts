// `gaol setup [--systemd] [--desktop]`: install and prepare everything this host needs (packages, btrfs,
// kernel, default image); with --systemd, also the units that start gaol at boot; with --desktop, the
// desktop image (XFCE over VNC, for the page's Desktop).
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { hostConfigFromEnv } from "../host/config.js";
import { ensureDesktopImage } from "../host/image/desktop.js";
import { ensureHost } from "../host/setup/index.js";
import { writeSystemdUnits } from "../host/setup/systemd.js";
import { commandLog } from "./log.js";
import { starting } from "./startup.js";

const log = commandLog("setup", "gaol");
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { systemd: { type: "boolean", default: false }, desktop: { type: "boolean", default: false } },
});
const version = await starting(log, () => ensureHost(hostConfigFromEnv(), log));
log(`host ready; default image ${version.image} version ${version.version} at ${version.file}`);
if (values.desktop) {
  const desktop = await ensureDesktopImage(hostConfigFromEnv(), log);
  log(`desktop image ${desktop.image} version ${desktop.version}: gaol up NAME --image ${desktop.image} --memory 1024`);
}
if (values.systemd) {
  const gaol = fileURLToPath(new URL("../bin/gaol", import.meta.url));
  const files = await writeSystemdUnits(gaol);
  log(`wrote ${files.join(", ")}; settings in /etc/default/gaol`);
  log("start at boot with: systemctl enable --now gaol (or gaol-agent on a host whose api is elsewhere)");
}
