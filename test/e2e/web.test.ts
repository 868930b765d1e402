import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { hostConfigFromEnv } from "../../host/config.js";
import type { HostCommandError } from "../../host/exec/error.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { ensureHost } from "../../host/setup/index.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi } from "../helpers/api.js";
import { ensureWebBuilt, launchChromium } from "../helpers/browser.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";

// The web page in Debian's Chromium, against the api and a real agent booting real UML. Names unique to this file.
const NS = "gaol-t-web";
const WORK = "/var/lib/gaol-test/web";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };

let lan: TestLan;
let api: TestApi;
let url: string;
let agent: Agent;
let browser: Browser;
let page: Page;
/** Every request of the page that the api answered with an error (a favicon 404 was one). */
const failedRequests: string[] = [];

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await ensureWebBuilt();
  await rm(WORK, { recursive: true, force: true });
  await mkdir(ARTIFACTS, { recursive: true });
  lan = await createTestLan(NS, 33, join(WORK, "lan"));
  await createAccount("gaoltweb", 1541);
  api = await startTestApi();
  url = await api.app.start(0);
  const agentToken = await api.login("web-host", "AGENT", { hostMemoryMiB: 0 });
  agent = new Agent({ api: url, token: agentToken, config, capacity: { memoryMiB: 4096, maxMachines: 4 } });
  await agent.start();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("response", (response) => {
    if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`);
  });
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  const host = new Host(config);
  for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
  await api?.close();
  await lan?.destroy();
  await removeAccount("gaoltweb");
  await rm(WORK, { recursive: true, force: true });
});

describe("the web page", () => {
  it("refuses a bad token and says so", async () => {
    await page.goto(new URL("/", url).toString());
    await page.getByTestId("token").fill("gaol_not_a_token");
    await page.getByTestId("sign-in").click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/Not authorized/);
  });

  it("signs in, creates a machine, shows its stages live until READY, and destroys it", async () => {
    const token = await api.login("gaoltweb");
    await page.getByTestId("token").fill(token);
    await page.getByTestId("sign-in").click();
    await expect.poll(() => page.getByTestId("viewer").textContent()).toBe("gaoltweb (user)");

    // The name's pattern is a valid regular expression for Chromium (the v flag): it flags "-rf" before the api must.
    const name = page.getByTestId("new-name");
    for (const [value, bad] of [
      ["-rf", true],
      ["a-", true],
      ["web-1", false],
    ] as const) {
      await name.fill(value);
      expect(await name.evaluate((input: HTMLInputElement) => input.validity.patternMismatch)).toBe(bad);
    }
    // Past the page's check, the api's answer is said once, in words.
    await name.evaluate((input: HTMLInputElement) => input.removeAttribute("pattern"));
    await name.fill("-rf");
    await page.getByTestId("create").click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/^name: must be 1–32 of a-z/);
    const said = (await page.getByRole("alert").textContent()) as string;
    expect(said.match(/must be/g)).toHaveLength(1);
    expect(said).not.toContain("ValidationError");
    await page.getByTestId("new-name").fill("web-1");
    await page.getByTestId("create").click();
    const row = page.getByTestId("machine-web-1");
    await row.waitFor();
    // The timeline fills in as the agent reports: lease, ssh verified by the host, READY.
    const stages = page.getByTestId("timeline");
    await stages.getByText(/^lease 10\.200\.33\./).waitFor({ timeout: 60_000 });
    await stages.getByText("ssh verified", { exact: false }).waitFor({ timeout: 60_000 });
    await stages.getByText("READY", { exact: true }).waitFor({ timeout: 60_000 });
    await expect.poll(() => row.getByTestId("state").textContent()).toBe("READY");
    // A READY machine offers a reboot (what an unresponsive one needs).
    expect(await row.getByTestId("reboot").isEnabled()).toBe(true);
    const address = (await page.getByTestId("ip").textContent()) as string;
    // The command pins the keys the host verified: run for real, it reaches the machine's sshd and trusts nothing else.
    const command = (await page.getByTestId("ssh-command").textContent()) as string;
    expect(command).toContain("StrictHostKeyChecking=yes");
    expect(command).toMatch(new RegExp(`root@${address.replaceAll(".", "\\.")}$`));
    const home = join(WORK, "ssh-home");
    await mkdir(home, { recursive: true });
    const probe = command.replace(/ root@/, " -o BatchMode=yes -o PreferredAuthentications=publickey root@");
    const pinned = await run("bash", ["-c", `${probe} true`], {
      netns: NS,
      env: { HOME: home, PATH: process.env.PATH ?? "" },
    }).catch((error: HostCommandError) => error.message);
    // Past the host key check (a key of our own it has not: publickey refused), never "Host key verification failed".
    expect(String(pinned)).toContain("Permission denied (publickey)");
    await writeFile(
      join(home, ".config/gaol/known_hosts/web-1"),
      `${address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdCB0aGUgbWFjaGluZXMga2V5IGF0IGFsbCEhISE=\n`,
    );
    const sshAlone = command.slice(command.lastIndexOf("&& ssh ") + 3).replace(/ root@/, " -o BatchMode=yes root@");
    const refused = await run("bash", ["-c", `${sshAlone} true`], {
      netns: NS,
      env: { HOME: home, PATH: process.env.PATH ?? "" },
    }).catch((error: HostCommandError) => error.message);
    expect(String(refused)).toMatch(/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
    expect(await page.getByTestId("log").textContent()).toContain("gaol: stage=sshd");
    const labels = await stages.getByTestId("stage").locator("span").allTextContents();
    expect(labels.indexOf("BOOTING")).toBeLessThan(labels.findIndex((l) => l.startsWith("lease")));
    expect(labels.findIndex((l) => l.startsWith("ssh verified"))).toBeLessThan(labels.indexOf("READY"));
    // Each stage once: the guest's "lease" stage and the host's lease event are one line.
    expect(labels.filter((l) => l.startsWith("lease"))).toHaveLength(1);
    expect(new Set(labels).size).toBe(labels.length);
    await page.screenshot({ path: join(ARTIFACTS, "web-ready.png"), fullPage: true });

    // Destroy asks first: dismissed, nothing happens.
    page.once("dialog", (dialog) => void dialog.dismiss());
    await row.getByTestId("destroy").click();
    await new Promise((r) => setTimeout(r, 500));
    expect(await row.getByTestId("state").textContent()).toBe("READY");
    page.once("dialog", (dialog) => {
      expect(dialog.message()).toContain("home directory is kept");
      void dialog.accept();
    });
    await row.getByTestId("destroy").click();
    await row.waitFor({ state: "detached", timeout: 30_000 });
    const machines = (await api.gql(token, "{ machines { edges { node { name state } } } }")).data?.machines.edges;
    expect(machines).toEqual([{ node: { name: "web-1", state: "DESTROYED" } }]);
  });

  it("shows an admin every host with its capacity and every image", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByTestId("token").fill(await api.login("web-admin", "ADMIN"));
    await page.getByTestId("sign-in").click();
    await expect.poll(() => page.getByTestId("viewer").textContent()).toBe("web-admin (admin)");
    await expect.poll(() => page.getByTestId("hosts").textContent()).toMatch(/web-host\s*up\s*0 \/ 4/);
    expect(await page.getByTestId("images").textContent()).toMatch(/^Images.*debian/);
    await page.screenshot({ path: join(ARTIFACTS, "web-admin.png"), fullPage: true });
  });

  it("serves GraphiQL that works with the network closed, and runs a query with the admin token", async () => {
    const admin = await api.login("web-graphiql", "ADMIN");
    const origin = new URL(url).origin;
    const offline = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const elsewhere: string[] = [];
    // Nothing but the api's own origin answers: a classroom LAN with no way out.
    await offline.route("**/*", (route) => {
      const target = route.request().url();
      if (target.startsWith(origin) || target.startsWith("blob:") || target.startsWith("data:"))
        return route.continue();
      elsewhere.push(target);
      return route.abort();
    });
    await offline.addInitScript((token) => {
      localStorage.setItem("graphiql:headers", JSON.stringify({ Authorization: `Bearer ${token}` }));
    }, admin);
    try {
      await offline.goto(new URL("/graphql?query=%7B%20viewer%20%7B%20name%20role%20%7D%20%7D", url).toString());
      await offline.locator(".graphiql-execute-button").click({ timeout: 30_000 });
      await expect
        .poll(() => offline.locator(".result-window").textContent(), { timeout: 30_000 })
        .toMatch(/"name":\s*"web-graphiql"/);
      await offline.screenshot({ path: join(ARTIFACTS, "graphiql-offline.png") });
      expect(elsewhere).toEqual([]);
    } finally {
      await offline.close();
    }
  });

  it("fits a phone's width without scrolling sideways", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await expect.poll(() => page.getByTestId("viewer").textContent()).toBe("web-admin (admin)");
    await page.getByTestId("hosts").waitFor();
    const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
    await page.screenshot({ path: join(ARTIFACTS, "web-phone.png"), fullPage: true });
    expect(widths.page).toBeLessThanOrEqual(widths.view);
    expect(failedRequests).toEqual([]);
  });
});
