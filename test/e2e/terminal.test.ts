import { chmod, copyFile, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connectSsh } from "../../api/screens/ssh.js";
import { GaolClient, type ReadyMachine } from "../../clients/sdk/client.js";
import { openTerminal, type TerminalAccess, type TerminalLogin } from "../../clients/sdk/terminal.js";
import { hostConfigFromEnv } from "../../host/config.js";
import type { HostCommandError } from "../../host/exec/error.js";
import { type Launched, launch, run, succeeds } from "../../host/exec/run.js";
import { connectTo } from "../../host/ready/probe.js";
import { ensureHost } from "../../host/setup/index.js";
import { killProcessGroup } from "../../host/uml/process.js";
import { terminalKey, wellFormedKeyPair } from "../../services/terminal-key.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import type { TestApi } from "../helpers/api.js";
import { type ServedAptRepo, serveAptRepo } from "../helpers/apt-repo.js";
import { ensureWebBuilt, launchChromium } from "../helpers/browser.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";
import { startStack, type TestStack } from "../helpers/stack.js";

// The page's terminal on real UML, through the api's socket to the machine's sshd. Names unique to this file.
const NS = "gaol-t-term";
const WORK = "/var/lib/gaol-test/terminal";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
/** A well-formed id of no machine: Machine:00000000-…. */
const NO_MACHINE = Buffer.from("Machine:00000000-0000-0000-0000-000000000000").toString("base64");
const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
const dial = (ip: string, port: number) => connectTo(ip, port, NS);

let lan: TestLan;
let api: TestApi;
let url: string;
let stack: TestStack | undefined;
let owner: TestAccount;
let machine: ReadyMachine;
let aptRepo: ServedAptRepo | undefined;
let browser: Browser | undefined;
let ssh: SshClient;
let xvfb: Launched | undefined;
const tokens: Record<string, string> = {};
const client = (who: string) => new GaolClient({ url, token: tokens[who], webSocket: WebSocket });

/** A terminal socket of the SDK's, with everything it printed as text. */
function terminal(token: string, machineId: string, login: TerminalLogin = "ROOT") {
  let text = "";
  let access: TerminalAccess | undefined;
  let closed: { code: number; message: string } | undefined;
  const socket = openTerminal(
    { url, token, webSocket: WebSocket },
    { machineId, login, cols: 120, rows: 30 },
    {
      data: (bytes) => {
        text += Buffer.from(bytes).toString();
      },
      attached: (a) => {
        access = a;
      },
      closed: (code, message) => {
        closed = { code, message };
      },
    },
  );
  return {
    socket,
    text: () => text,
    access: () => access,
    closed: () => closed,
    /** Waits for the output to match (a marker the shell prints, never the typed command echoed back). */
    waitFor: (pattern: RegExp) => expect.poll(() => pattern.test(text), { timeout: 30_000 }).toBe(true),
  };
}

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await ensureWebBuilt();
  await rm(WORK, { recursive: true, force: true });
  await mkdir(ARTIFACTS, { recursive: true });
  lan = await createTestLan(NS, 48, join(WORK, "lan"));
  owner = await createAccount("gaolttrm", 1601);
  stack = await startStack("term-host", config, { memoryMiB: 2048, maxMachines: 2 }, dial);
  api = stack.api;
  url = stack.url;
  tokens.admin = await api.login("term-admin", "ADMIN");
  tokens.owner = await api.login(owner.name);
  tokens.stranger = await api.login("term-stranger");
  tokens.prof = await api.login("term-prof");
  await client("admin").createCourse({ name: "term-e2e", instructors: ["term-prof"] });
  await client("prof").enrol("term-e2e", [{ user: owner.name }]);
  await client("prof").createLab("term-e2e", { name: "shell", timeLimitSeconds: 3600 });
  ssh = await createSshClient(join(WORK, "ssh"), NS);
  const started = await client("owner").startLab("term-e2e", "shell", { sshPublicKeys: [ssh.publicKey] });
  machine = await client("owner").waitForReady(started.id, { timeoutMs: 120_000 });

  // A package repository on another host of the LAN, for apt-get inside.
  aptRepo = await serveAptRepo(join(WORK, "apt"), lan);
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  // TERM, so that Xvfb removes its lock and socket; a killed one leaves them and the next cannot start.
  if (xvfb) await run("kill", ["-TERM", String(xvfb.pid)]).catch(() => undefined);
  if (aptRepo) await killProcessGroup(aptRepo.server.pid).catch(() => undefined);
  await stack?.stop();
  await lan?.destroy();
  if (owner) await removeAccount(owner.name);
  await rm(WORK, { recursive: true, force: true });
});

/** What the page's terminal shows, row by row. */
const screenText = async (page: Page) =>
  (await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents()).join("\n");

describe("a terminal in the page", () => {
  it("runs id and apt-get in the page's terminal, and finds the same shell after a reload", async () => {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(new URL("/", url).toString());
    await page.getByTestId("token").fill(tokens.owner as string);
    await page.getByTestId("sign-in").click();
    await page.getByTestId(`machine-${machine.machine.name}`).click();
    await page.getByTestId("open-terminal").click();
    await expect.poll(() => page.getByTestId("terminal-status").textContent(), { timeout: 30_000 }).toBe("connected");
    const type = async (line: string) => {
      await page.locator("[data-testid=terminal] textarea").focus();
      await page.keyboard.type(line);
      await page.keyboard.press("Enter");
    };
    // Markers built by the shell ($((…))), so the echo of what was typed never matches them.
    await type("id; echo id-done-$((40+2))");
    await expect.poll(() => screenText(page), { timeout: 30_000 }).toMatch(/id-done-42/);
    expect(await screenText(page)).toMatch(/uid=0\(root\) gid=0\(root\)/);

    await type(`${aptRepo?.installCommand} && gaol-hello; echo apt-$((1+1))-done`);
    await expect.poll(() => screenText(page), { timeout: 60_000 }).toMatch(/apt-2-done/);
    expect(await screenText(page)).toMatch(/Setting up gaol-hello/);
    expect(await screenText(page)).toMatch(/hello from a \.deb/);
    await type("export GAOL_MARK=41; echo 'ünïcødé ✓' $((7*6))");
    await expect.poll(() => screenText(page), { timeout: 30_000 }).toMatch(/ünïcødé ✓ 42/);
    await page.screenshot({ path: join(ARTIFACTS, "terminal.png") });

    // A reload opens the same terminal (the URL says which), replays its output, and keeps its shell.
    expect(new URL(page.url()).hash).toBe(`#terminal=${encodeURIComponent(machine.machine.id)}`);
    await page.reload();
    await expect.poll(() => page.getByTestId("terminal-status").textContent(), { timeout: 30_000 }).toBe("connected");
    await expect.poll(() => screenText(page), { timeout: 30_000 }).toMatch(/ünïcødé ✓ 42/);
    await type("echo mark-$((GAOL_MARK+1))-kept");
    await expect.poll(() => screenText(page), { timeout: 30_000 }).toMatch(/mark-42-kept/);
  }, 180_000);

  it("lets only the owner type: staff watch, others and bad tokens get nothing, on the socket itself", async () => {
    const mine = terminal(tokens.owner as string, machine.machine.id);
    await expect.poll(mine.access, { timeout: 30_000 }).toBe("CONTROL");
    // The page's shell from the test before: whatever it was doing is interrupted first.
    mine.socket.send("\x03");
    mine.socket.send("touch /root/owner-typed; echo owner-$((2+3))-typed\n");
    await mine.waitFor(/owner-5-typed/);

    const staff = terminal(tokens.prof as string, machine.machine.id);
    await expect.poll(staff.access, { timeout: 30_000 }).toBe("VIEW");
    // The watcher sees what the owner's shell prints from now on, after the replay of before.
    expect(staff.text()).toMatch(/owner-5-typed/);
    staff.socket.send("touch /root/staff-typed\n");
    staff.socket.resize(20, 5);
    mine.socket.send("sleep 1; ls /root/owner-typed /root/staff-typed 2>&1; stty size; echo check-$((3+4))\n");
    await mine.waitFor(/check-7/);
    await staff.waitFor(/check-7/);
    expect(mine.text()).toMatch(/\/root\/owner-typed/);
    expect(mine.text()).toMatch(/cannot access '\/root\/staff-typed'/);
    // The owner's size, not the watcher's.
    expect(mine.text()).toMatch(/30 120/);

    const stranger = terminal(tokens.stranger as string, machine.machine.id);
    const real = tokens.stranger as string;
    const forged = terminal(`${real.slice(0, -1)}${real.endsWith("a") ? "b" : "a"}`, machine.machine.id);
    const unknown = terminal(tokens.owner as string, NO_MACHINE);
    await expect.poll(stranger.closed, { timeout: 15_000 }).toBeDefined();
    await expect.poll(forged.closed, { timeout: 15_000 }).toBeDefined();
    await expect.poll(unknown.closed, { timeout: 15_000 }).toBeDefined();
    expect(stranger.closed()?.code).toBe(4404);
    // Another user's machine looks exactly like no machine.
    expect(stranger.closed()?.message).toBe(unknown.closed()?.message.replace(NO_MACHINE, machine.machine.id));
    expect(stranger.access()).toBeUndefined();
    expect(stranger.text()).toBe("");
    expect(forged.closed()?.code).toBe(4401);
    expect(forged.closed()?.message).toMatch(/^Not authorized: this is not a whole gaol token/);
    // The admin of everything still gets no one's screen.
    const admin = terminal(tokens.admin as string, machine.machine.id);
    await expect.poll(admin.closed, { timeout: 15_000 }).toBeDefined();
    expect(admin.closed()?.code).toBe(4404);
    for (const t of [mine, staff]) t.socket.close();
  }, 120_000);

  it("lets staff type in the owner's shell while the owner shares it, and only then", async () => {
    await client("owner").shareScreen(machine.machine.id, true);
    const mine = terminal(tokens.owner as string, machine.machine.id);
    await expect.poll(mine.access, { timeout: 30_000 }).toBe("CONTROL");
    mine.socket.send("\x03");
    const helper = terminal(tokens.prof as string, machine.machine.id);
    await expect.poll(helper.access, { timeout: 30_000 }).toBe("CONTROL");
    // The same shell: what the teacher types, the student sees.
    helper.socket.send("echo helped-$((4*5))\n");
    await mine.waitFor(/helped-20/);
    helper.socket.close();
    await client("owner").shareScreen(machine.machine.id, false);
    const watcher = terminal(tokens.prof as string, machine.machine.id);
    await expect.poll(watcher.access, { timeout: 30_000 }).toBe("VIEW");
    for (const t of [mine, watcher]) t.socket.close();
  }, 120_000);

  it("echoes a keystroke: its round trip through the api and sshd, p50 of 20", async () => {
    const mine = terminal(tokens.owner as string, machine.machine.id);
    await expect.poll(mine.access, { timeout: 30_000 }).toBe("CONTROL");
    mine.socket.send("\x03clear; echo ready-$((6*7))\n");
    await mine.waitFor(/ready-42/);
    const took: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = mine.text().length;
      const at = performance.now();
      mine.socket.send("x");
      await expect.poll(() => mine.text().length > before, { timeout: 10_000, interval: 1 }).toBe(true);
      took.push(performance.now() - at);
    }
    mine.socket.send("\x03");
    took.sort((a, b) => a - b);
    console.log(
      `keystroke → echo: p50 ${(took[10] as number).toFixed(1)} ms, max ${(took[19] as number).toFixed(1)} ms (20, SDK socket)`,
    );
    mine.socket.close();
  }, 60_000);

  it("logs the owner in as their own account inside", async () => {
    const own = terminal(tokens.owner as string, machine.machine.id, "OWNER");
    await expect.poll(own.access, { timeout: 30_000 }).toBe("CONTROL");
    own.socket.send('echo "who=$(id -un):$(id -u) home=$HOME"\n');
    await own.waitFor(/who=gaolttrm:1601 home=\/home\/gaolttrm/);
    own.socket.close();
  }, 60_000);

  it("trusts only the host key the host verified", async () => {
    const { privateKey } = await terminalKey(api.database.db);
    const target = { ip: machine.ip, port: machine.port, hostKeys: machine.hostKeys };
    const right = await connectSsh(dial, target, privateKey);
    right.end();
    const wrong = [{ type: "ssh-ed25519", fingerprintSha256: "", publicKey: wellFormedKeyPair().publicKey }];
    await expect(connectSsh(dial, { ...target, hostKeys: wrong }, privateKey)).rejects.toThrow();
    await expect(connectSsh(dial, { ...target, hostKeys: [] }, privateKey)).rejects.toThrow(/no verified host key/);
  }, 60_000);

  it("shows an X program of the machine on the user's display through gaol ssh -X", async () => {
    // An X server of the test's own, and a HOME whose ssh reaches the LAN's namespace (ProxyCommand).
    const display = ":48";
    // A display of this file's own; what an Xvfb killed before left of it would keep this one from starting.
    if (!(await succeeds("xwininfo", ["-root", "-display", display])))
      await Promise.all(["/tmp/.X48-lock", "/tmp/.X11-unix/X48"].map((f) => rm(f, { force: true })));
    const xlog = await open(join(WORK, "xvfb.log"), "a");
    // -noreset: each poll below is the server's last client, and a reset when it leaves drops a connection.
    xvfb = launch("Xvfb", [display, "-noreset", "-nolisten", "tcp", "-screen", "0", "640x480x24"], {
      outputFd: xlog.fd,
    });
    await xlog.close();
    await expect.poll(() => succeeds("xwininfo", ["-root", "-display", display]), { timeout: 15_000 }).toBe(true);
    const home = join(WORK, "home");
    await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
    await copyFile(ssh.identity, join(home, ".ssh", "id_ed25519"));
    await chmod(join(home, ".ssh", "id_ed25519"), 0o600);
    await writeFile(join(home, ".ssh", "id_ed25519.pub"), `${ssh.publicKey}\n`);
    // ssh reads the passwd entry's ~/.ssh, not $HOME's: the whole ssh runs in the LAN's namespace instead.
    const sshInLan = join(WORK, "ssh-in-lan");
    await writeFile(sshInLan, `#!/bin/sh\nexec ip netns exec ${NS} ssh "$@"\n`, { mode: 0o755 });
    const env = {
      HOME: home,
      DISPLAY: display,
      GAOL_API: url,
      GAOL_TOKEN: tokens.owner as string,
      GAOL_SSH: sshInLan,
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
    };
    const script = await readFile(fileURLToPath(new URL("../helpers/x11-window.py", import.meta.url)), "utf8");
    const client = run(gaolBin, ["ssh", "-X", machine.machine.name, "python3", "-", "10"], {
      env,
      input: script,
      timeoutMs: 60_000,
    });
    client.catch(() => undefined);
    // The guest's window, on the test's display: X went through sshd, the cookie and the tunnel.
    const windows = () =>
      run("xwininfo", ["-root", "-tree", "-display", display])
        .then((r) => r.stdout)
        .catch((e: Error) => e.message);
    await expect
      .poll(windows, { timeout: 45_000, interval: 500 })
      .toMatch(/"gaol-x11": \(\) {2}200x100/)
      .catch(async (error: Error) => {
        const ended = await client.catch((e: HostCommandError) => e);
        throw new Error(
          `${error.message}\ngaol ssh -X: ${ended instanceof Error ? ended.message : ""} ${ended.stdout}`,
        );
      });
    const { stdout } = await client;
    expect(stdout).toMatch(/^X11 11\.0 from The X\.Org Foundation: window 0x[0-9a-f]+ mapped/);
    // Gone with its program: nothing of it stays on the user's display.
    expect(await windows()).not.toMatch(/gaol-x11/);
  }, 120_000);
});
