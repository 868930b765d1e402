import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { GaolClient, type ReadyMachine } from "../../clients/sdk/client.js";
import { DESKTOP_IMAGE } from "../../core/index.js";
import { hostConfigFromEnv } from "../../host/config.js";
import { succeeds } from "../../host/exec/run.js";
import { ensureDesktopImage } from "../../host/image/desktop.js";
import { connectTo } from "../../host/ready/probe.js";
import { ensureHost } from "../../host/setup/index.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import type { TestApi } from "../helpers/api.js";
import { ensureWebBuilt, launchChromium } from "../helpers/browser.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";
import { startStack, type TestStack } from "../helpers/stack.js";

// A desktop machine (XFCE over VNC) in the page through noVNC, on real UML. Names unique to this file.
const NS = "gaol-t-desk";
const WORK = "/var/lib/gaol-test/desktop";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };

let lan: TestLan;
let api: TestApi;
let url: string;
let stack: TestStack | undefined;
let owner: TestAccount;
let ssh: SshClient;
let machine: ReadyMachine;
let browser: Browser | undefined;
const tokens: Record<string, string> = {};
const client = (who: string) => new GaolClient({ url, token: tokens[who], webSocket: WebSocket });
const inGuest = (command: string) => ssh.exec("root", machine.ip, command, machine.hostKeys);

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await ensureDesktopImage(hostConfigFromEnv(), (line) => console.log(`setup: ${line}`));
  await ensureWebBuilt();
  await rm(WORK, { recursive: true, force: true });
  await mkdir(ARTIFACTS, { recursive: true });
  lan = await createTestLan(NS, 49, join(WORK, "lan"));
  owner = await createAccount("gaoltdsk", 1602);
  stack = await startStack("desk-host", config, { memoryMiB: 4096, maxMachines: 2 }, (ip, port) =>
    connectTo(ip, port, NS),
  );
  api = stack.api;
  url = stack.url;
  tokens.admin = await api.login("desk-admin", "ADMIN");
  tokens.owner = await api.login(owner.name);
  tokens.prof = await api.login("desk-prof");
  await client("admin").createCourse({ name: "desk-e2e", instructors: ["desk-prof"] });
  await client("prof").enrol("desk-e2e", [{ user: owner.name }]);
  await client("prof").createLab("desk-e2e", {
    name: "gui",
    timeLimitSeconds: 3600,
    image: DESKTOP_IMAGE,
    memoryMiB: 1024,
  });
  ssh = await createSshClient(join(WORK, "ssh"), NS);
  const started = await client("owner").startLab("desk-e2e", "gui", { sshPublicKeys: [ssh.publicKey] });
  machine = await client("owner").waitForReady(started.id, { timeoutMs: 180_000 });
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await stack?.stop();
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await rm(WORK, { recursive: true, force: true });
});

/** Whether noVNC's canvas shows more than one colour (a desktop, not a blank frame). */
const canvasDrawn = (page: Page) =>
  page.evaluate(() => {
    const canvas = document.querySelector("[data-testid=desktop] canvas") as HTMLCanvasElement | null;
    if (!canvas || canvas.width < 100) return false;
    const { data } = (canvas.getContext("2d") as CanvasRenderingContext2D).getImageData(
      0,
      0,
      canvas.width,
      canvas.height,
    );
    const colours = new Set<number>();
    for (let i = 0; i < data.length && colours.size < 50; i += 4 * 97)
      colours.add(((data[i] ?? 0) << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0));
    return colours.size >= 20;
  });

async function openDesktop(token: string): Promise<{ page: Page; firstFrameMs: number }> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1400, height: 1100 } });
  await page.goto(new URL("/", url).toString());
  await page.getByTestId("token").fill(token);
  await page.getByTestId("sign-in").click();
  // Signed in (the token kept for the tab) before a reload, or the reload asks for it again.
  await expect.poll(() => page.getByTestId("viewer").textContent(), { timeout: 30_000 }).toMatch(/\(/);
  if (token === tokens.owner) await page.getByTestId(`machine-${machine.machine.name}`).click();
  else
    await page.goto(`${new URL("/", url)}#desktop=${encodeURIComponent(machine.machine.id)}`).then(() => page.reload());
  const clicked = Date.now();
  if (token === tokens.owner) await page.getByTestId("open-desktop").click();
  // Seconds alone; minutes when the other e2e files share the two cores with the guest's Xvnc.
  await expect
    .poll(() => canvasDrawn(page), { timeout: 240_000, interval: 100 })
    .toBe(true)
    .catch(async (error: Error) => {
      await page.screenshot({ path: join(ARTIFACTS, "desktop-no-frame.png") }).catch(() => undefined);
      const status = await page
        .getByTestId("desktop-status")
        .textContent()
        .catch((e: Error) => e.message);
      const vnc = await inGuest("ss -tn | grep -c ':5900 ' ; uptime").catch((e: Error) => e.message);
      throw new Error(`${error.message}\nthe page says: ${status}\nVNC connections, load: ${vnc}`);
    });
  return { page, firstFrameMs: Date.now() - clicked };
}

describe("a desktop in the page", () => {
  it("shows XFCE to its owner in the page, and to a staff member who may only watch", async () => {
    // XFCE takes a while to start inside UML (minutes while the other e2e files share the two cores):
    // its panel is the sign that the session is up; the session's log says why when it is not.
    const started = Date.now();
    await expect
      .poll(() => inGuest("pgrep -u gaoltdsk -x xfce4-panel >/dev/null && echo up").catch(() => ""), {
        timeout: 420_000,
        interval: 3000,
      })
      .toMatch(/up/)
      .catch(async (error: Error) => {
        const log = await inGuest("tail -20 /run/gaol-desktop.log; uptime").catch((e: Error) => e.message);
        throw new Error(`${error.message}\nthe desktop's log:\n${log}`);
      });
    console.log(`desktop: XFCE's panel up ${((Date.now() - started) / 1000).toFixed(0)} s after READY`);
    const { page, firstFrameMs } = await openDesktop(tokens.owner as string);
    await expect.poll(() => page.getByTestId("desktop-status").textContent(), { timeout: 30_000 }).toBe("connected");
    // A terminal window on the desktop, started inside as the owner, for the picture.
    await inGuest(
      "su -l gaoltdsk -c 'DISPLAY=:0 setsid xfce4-terminal --title=gaol-term --geometry=80x10+100+100 >/dev/null 2>&1 &'",
    );
    await expect
      .poll(() => inGuest("pgrep -u gaoltdsk -f gaol-term >/dev/null && echo up").catch(() => ""), { timeout: 60_000 })
      .toMatch(/up/);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: join(ARTIFACTS, "desktop.png") });

    // Staff watch: noVNC view-only in the page, and the api drops their input (rfb-view-only.test.ts).
    const staff = await openDesktop(tokens.prof as string);
    await expect
      .poll(() => staff.page.getByTestId("desktop-status").textContent(), { timeout: 30_000 })
      .toMatch(/view only/);
    await staff.page.screenshot({ path: join(ARTIFACTS, "desktop-staff.png") });

    const memory = await inGuest("free -m | awk '/^Mem:/ { print $3 }'");
    console.log(
      `desktop: click → first frame ${firstFrameMs} ms (owner), ${staff.firstFrameMs} ms (staff); ` +
        `the desktop machine uses ${memory.trim()} MiB inside of its 1024`,
    );
  }, 1_200_000);

  it("keeps the VNC port off the LAN: only the api, over ssh, reaches it", async () => {
    const tcp = (port: number) =>
      succeeds("bash", ["-c", `exec 3<>/dev/tcp/${machine.ip}/${port}`], { netns: lan.peerNetns });
    expect(await tcp(22)).toBe(true);
    expect(await tcp(5900)).toBe(false);
    const listening = (await inGuest("ss -ltn | awk '$4 ~ /:5900$/ { print $4 }'")).trim().split("\n");
    expect(listening).toContain("127.0.0.1:5900");
    expect(listening.every((a) => a === "127.0.0.1:5900" || a === "[::1]:5900")).toBe(true);
  }, 60_000);

  it("takes the owner's clicks and keys into XFCE's windows, and none of a watcher's", async () => {
    // A terminal window at a known place on the 1280×800 desktop; a click into it gives it the keyboard.
    await inGuest(
      "su -l gaoltdsk -c 'DISPLAY=:0 setsid xfce4-terminal --disable-server --title=gaol-type --geometry=60x8+300+200 >/dev/null 2>&1 &'",
    );
    await expect
      .poll(() => inGuest("pgrep -u gaoltdsk -f gaol-type >/dev/null && echo up").catch(() => ""), { timeout: 60_000 })
      .toMatch(/up/);
    const { page } = await openDesktop(tokens.owner as string);
    await expect.poll(() => page.getByTestId("desktop-status").textContent(), { timeout: 30_000 }).toBe("connected");
    await page.waitForTimeout(5000);
    const canvas = page.locator("[data-testid=desktop] canvas").first();
    const box = await canvas.boundingBox();
    if (!box) throw new Error("noVNC drew no canvas");
    // Page coordinates of a point inside the window: the page scales the remote screen to fit.
    const at = { x: box.x + ((300 + 120) * box.width) / 1280, y: box.y + ((200 + 60) * box.height) / 800 };
    await page.mouse.click(at.x, at.y);
    await page.waitForTimeout(1000);
    await page.keyboard.type("echo typed-$((6*7)) > /tmp/typed", { delay: 60 });
    await page.keyboard.press("Enter");
    await expect
      .poll(() => inGuest("cat /tmp/typed 2>/dev/null").catch(() => ""), { timeout: 60_000, interval: 1000 })
      .toBe("typed-42")
      .catch(async (error: Error) => {
        await page.screenshot({ path: join(ARTIFACTS, "desktop-typing.png") }).catch(() => undefined);
        const seen = await inGuest("DISPLAY=:0 xprop -root _NET_ACTIVE_WINDOW; pgrep -a -u gaoltdsk firefox").catch(
          (e: Error) => e.message,
        );
        throw new Error(`${error.message}\nthe desktop (test-artifacts/desktop-typing.png): ${seen}`);
      });
    await page.screenshot({ path: join(ARTIFACTS, "desktop-typed.png") });

    // The same from a watcher's page: noVNC sends nothing in view-only, and the api would drop it anyway.
    const staff = await openDesktop(tokens.prof as string);
    await staff.page.mouse.click(at.x, at.y);
    await staff.page.keyboard.type("echo watcher > /tmp/watched", { delay: 60 });
    await staff.page.keyboard.press("Enter");
    await staff.page.waitForTimeout(5000);
    expect(await inGuest("test -e /tmp/watched && echo typed || echo untouched")).toBe("untouched");
    await page.close();
    await staff.page.close();
  }, 900_000);
});
