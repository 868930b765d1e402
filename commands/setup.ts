// `gaol setup`: install and prepare everything this host needs (packages, btrfs, kernel, default image).
import { hostConfigFromEnv } from "../host/config.js";
import { ensureHost } from "../host/setup/index.js";
import { starting } from "./startup.js";

const log = (line: string) => console.error(`gaol: ${line}`);
const version = await starting(log, () => ensureHost(hostConfigFromEnv(), log));
log(`host ready; default image ${version.image} version ${version.version} at ${version.file}`);
