import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { build } from "vite";

/** The web page, built once: scripts/test builds it before tests that serve it run side by side; alone, here. */
export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(fileURLToPath(new URL("../../clients/web/dist/index.html", import.meta.url)))) return;
  await build({
    configFile: fileURLToPath(new URL("../../clients/web/vite.config.ts", import.meta.url)),
    logLevel: "warn",
  });
}

/** Debian's Chromium, headless, asking nothing of the network beyond the pages it is sent to. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
    ],
  });
}
