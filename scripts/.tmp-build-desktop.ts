import { hostConfigFromEnv } from "/work/main/host/config.js";
import { ensureDesktopImage } from "/work/main/host/image/desktop.js";

const v = await ensureDesktopImage(hostConfigFromEnv(), (l) => console.log(l));
console.log(v);
