import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Agent } from "../../agent/agent.js";
import { GaolClient, type Machine } from "../../clients/sdk/client.js";
import type { MachineEvent } from "../../clients/sdk/events.js";
import { hostConfigFromEnv } from "../../host/config.js";
import { HostCommandError } from "../../host/exec/error.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { ensureHost } from "../../host/setup/index.js";
import { LEASE_ENDED } from "../../services/leases.js";
import { createAccount, removeAccount, type TestAccount } from "../helpers/accounts.js";
import { startTestApi, type TestApi } from "../helpers/api.js";
import { launchChromium } from "../helpers/browser.js";
import { createTestLan, type TestLan } from "../helpers/lan.js";
import { createSshClient, type SshClient } from "../helpers/ssh.js";

// A course on real UML: two students' lab machines with a short lease, a TA, an outsider. Names unique to this file.
const NS = "gaol-t-course";
const WORK = "/var/lib/gaol-test/courses";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
const config = { ...hostConfigFromEnv(), bridge: "br0", netns: NS, stateDir: join(WORK, "state") };
/** Long enough to boot and work on this VM's slow stretches, short enough to watch end. */
const LAB = {
  name: "shell",
  timeLimitSeconds: 45,
  maxExtensionSeconds: 30,
  warnAtSeconds: [25, 10],
  // Its #! line picks the interpreter; what it prints on stderr is in the result too.
  checkScript:
    '#!/bin/bash\nif [[ -f /root/solved ]]; then echo "solved by $(cat /root/solved)"; else echo "no /root/solved yet" >&2; exit 3; fi\n',
};
const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));

let lan: TestLan;
let api: TestApi;
let url: string;
let agent: Agent;
let ssh: SshClient;
let browser: Browser | undefined;
let studentA: TestAccount;
let studentB: TestAccount;
/** The scheduled lab's class: ten accounts of their own. */
const CLASS_SIZE = 10;
const classAccounts: TestAccount[] = [];
const tokens: Record<string, string> = {};
const client = (who: string) => new GaolClient({ url, token: tokens[who], webSocket: WebSocket });

/** Every event of a machine, from its start, until it is DESTROYED. */
async function eventsUntilDestroyed(who: string, id: string): Promise<MachineEvent[]> {
  const seen: MachineEvent[] = [];
  for await (const event of client(who).events(id)) {
    seen.push(event);
    if (event.__typename === "MachineStateChanged" && event.state === "DESTROYED") break;
  }
  return seen;
}

beforeAll(async () => {
  await ensureHost(hostConfigFromEnv(), () => undefined);
  await rm(WORK, { recursive: true, force: true });
  lan = await createTestLan(NS, 47, join(WORK, "lan"));
  studentA = await createAccount("gaoltcsa", 1571);
  studentB = await createAccount("gaoltcsb", 1572);
  for (let i = 0; i < CLASS_SIZE; i++) classAccounts.push(await createAccount(`gaoltcs${i}`, 1580 + i));
  ssh = await createSshClient(join(WORK, "ssh"), NS);
  // The replica's own lease keeper, ticking faster than the default so the warnings' times can be held to a second.
  api = await startTestApi("postgres", undefined, { passIntervalMs: 250 });
  url = await api.app.start(0);
  const agentToken = await api.login("course-host", "AGENT", { hostMemoryMiB: 0 });
  agent = new Agent({
    api: url,
    token: agentToken,
    config,
    capacity: { memoryMiB: 8192, maxMachines: 14 },
    // Sampled each second (30 s in production), so an idle limit of seconds can be watched end.
    activityIntervalMs: 1000,
    log: (line) => {
      if (/sampling|activity/.test(line)) console.log(`agent: ${line}`);
    },
  });
  await agent.start();

  tokens.admin = await api.login("course-admin", "ADMIN");
  tokens.prof = await api.login("course-prof");
  // Its instructor gives host accounts named gaoltcs…, the test's own.
  const hostAccountPrefix = "gaoltcs";
  await client("admin").createCourse({
    name: "os-e2e",
    instructors: ["course-prof"],
    maxMachines: 4,
    hostAccountPrefix,
  });
  await client("admin").createCourse({ name: "art-e2e", instructors: ["course-prof"], hostAccountPrefix });
  await client("prof").enrol("os-e2e", [
    { user: studentA.name, hostUser: studentA.name },
    { user: studentB.name, hostUser: studentB.name },
    { user: "course-ta", role: "TA" },
  ]);
  await client("prof").enrol("art-e2e", [{ user: "course-outsider" }]);
  for (const [who, course, user] of [
    ["a", "os-e2e", studentA.name],
    ["b", "os-e2e", studentB.name],
    ["ta", "os-e2e", "course-ta"],
    ["outsider", "art-e2e", "course-outsider"],
  ] as const)
    tokens[who] = (await client("prof").createCourseToken(course, user)).token;
  await client("prof").createLab("os-e2e", LAB);
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await agent?.stop().catch(() => undefined);
  const host = new Host(config);
  for (const id of await host.localIds().catch(() => [])) await host.destroy(id).catch(() => undefined);
  await api?.close();
  await lan?.destroy();
  for (const account of [studentA, studentB, ...classAccounts]) if (account) await removeAccount(account.name);
  await rm(WORK, { recursive: true, force: true });
});

describe("a course's lab on real machines", () => {
  it("gives each student a lab machine that the TA sees, the outsider does not, and the lease ends", async () => {
    const startedAt = Date.now();
    const [a, b] = await Promise.all(
      (["a", "b"] as const).map((who) => client(who).startLab("os-e2e", "shell", { sshPublicKeys: [ssh.publicKey] })),
    );
    const a0 = a as Machine;
    const b0 = b as Machine;
    // Followed from the start: every warning and the end are seen however long the boots take.
    const bEvents = eventsUntilDestroyed("b", b0.id);
    const aEvents = eventsUntilDestroyed("a", a0.id);
    const [readyA, readyB] = await Promise.all([
      client("a").waitForReady(a0.id, { timeoutMs: 120_000 }),
      client("b").waitForReady(b0.id, { timeoutMs: 120_000 }),
    ]);
    console.log(`both lab machines READY ${((Date.now() - startedAt) / 1000).toFixed(1)} s after startLab`);

    // Each student's work goes to their home, on the host, as them.
    for (const [who, ready] of [
      [studentA, readyA],
      [studentB, readyB],
    ] as const)
      await ssh.exec(who.name, ready.ip, "echo my-lab-work > ~/lab-work", ready.hostKeys);

    // The lab's check, run by the TA from the CLI in both machines: A solved it, B did not.
    await ssh.exec("root", readyA.ip, "echo gaoltcsa > /root/solved", readyA.hostKeys);
    const checked = await run(gaolBin, ["lab", "check", "os-e2e/shell", "--wait", "60s"], {
      env: { GAOL_API: url, GAOL_TOKEN: tokens.ta as string, HOME: WORK },
    }).catch((error: HostCommandError) => error);
    expect(checked).toBeInstanceOf(HostCommandError);
    const table = (checked as HostCommandError).stdout;
    console.log(table);
    expect(table).toMatch(new RegExp(`^${studentA.name}\\s+shell\\s+PASSED\\s+0\\s+solved by gaoltcsa$`, "m"));
    expect(table).toMatch(new RegExp(`^${studentB.name}\\s+shell\\s+FAILED\\s+3\\s+no /root/solved yet$`, "m"));

    // The TA puts A's machine back to the lab's starter disk: root's files are gone, the home is not.
    const resetStarted = Date.now();
    await run(gaolBin, ["course", "reset", "os-e2e", studentA.name], {
      env: { GAOL_API: url, GAOL_TOKEN: tokens.ta as string, HOME: WORK },
    });
    console.log(`reset to the lab's starter disk: READY again in ${((Date.now() - resetStarted) / 1000).toFixed(1)} s`);
    expect(await ssh.exec("root", readyA.ip, "ls /root/solved 2>&1 || true", readyA.hostKeys)).toMatch(/No such file/);
    expect(await ssh.exec(studentA.name, readyA.ip, "cat ~/lab-work", readyA.hostKeys)).toBe("my-lab-work");

    // The TA sees both machines and a student's console; the outsider nothing of it.
    const byTa = await client("ta").courseMachines("os-e2e");
    expect(byTa.map((m) => m.owner.name).sort()).toEqual([studentA.name, studentB.name]);
    const console_ = (await client("ta").log(b0.id)).filter((e) => e.__typename === "ConsoleOutput");
    expect(console_.length).toBeGreaterThan(10);
    expect(await client("outsider").course("os-e2e")).toBeNull();
    expect(await client("outsider").machine(a0.id)).toBeNull();
    expect((await client("outsider").machines()).length).toBe(0);
    await expect(client("outsider").log(a0.id)).rejects.toThrow(/no machine/);

    // The TA's dashboard in the page lists both, live.
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(new URL("/", url).toString());
    await page.getByTestId("token").fill(tokens.ta as string);
    await page.getByTestId("sign-in").click();
    const dashboard = page.getByTestId("course-machines");
    await dashboard.getByTestId(`course-machine-${studentA.name}-shell`).waitFor({ timeout: 15_000 });
    await dashboard.getByTestId(`course-machine-${studentB.name}-shell`).waitFor({ timeout: 15_000 });
    expect(await dashboard.textContent()).toMatch(/READY.*s left/);
    // A row opens the student's console, to read.
    await dashboard.getByTestId(`course-machine-${studentB.name}-shell`).click();
    await expect.poll(() => page.getByTestId("log").textContent(), { timeout: 15_000 }).toContain("gaol: stage=sshd");
    // The lab's check from the page: A's machine was reset since it solved it, so neither passes now.
    await page.getByTestId("check-shell").click();
    const results = page.getByTestId("check-results");
    await expect.poll(() => results.textContent(), { timeout: 30_000 }).toMatch(/gaoltcsa.*FAILED.*gaoltcsb.*FAILED/);
    expect(await results.textContent()).toContain("no /root/solved yet");
    await page.screenshot({ path: join(ARTIFACTS, "course-dashboard.png"), fullPage: true });

    // Student A extends within the cap; beyond it is refused, with what is left.
    const extended = await client("a").extend(a0.id, 20);
    expect(extended.extensionLeftSeconds).toBe(10);
    expect(Date.parse(extended.expiresAt as string) - Date.parse(a0.expiresAt as string)).toBe(20_000);
    await expect(client("a").extend(a0.id, 15)).rejects.toMatchObject({ type: "ExtensionRefusedError" });

    // Student A's page shows the time left, then the warning as a banner.
    const student = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await student.goto(new URL("/", url).toString());
    await student.getByTestId("token").fill(tokens.a as string);
    await student.getByTestId("sign-in").click();
    const row = student.getByTestId("machine-shell");
    await row.click();
    expect(await row.getByTestId("time-left").textContent()).toMatch(/s left$/);
    await expect
      .poll(() => student.getByTestId("lease-warning").textContent(), { timeout: 60_000 })
      .toMatch(/^shell: this lab machine is destroyed in \d+ seconds \(your home directory is kept\)/);
    await student.screenshot({ path: join(ARTIFACTS, "course-lease-warning.png"), fullPage: true });

    // B's lease: the warnings at 25 and 10 s before its end, on time, then the end itself.
    const bSeen = await bEvents;
    const endsB = Date.parse(b0.expiresAt as string);
    const warnings = bSeen.filter((e) => e.__typename === "MachineExpiring");
    expect(warnings.map((w) => (w.__typename === "MachineExpiring" ? w.secondsLeft : 0))).toEqual([25, 10]);
    for (const w of warnings) {
      if (w.__typename !== "MachineExpiring") continue;
      const late = endsB - w.secondsLeft * 1000 - Date.parse(w.at);
      // Sent within a tick or two of its time, never early.
      expect(late).toBeLessThanOrEqual(0);
      expect(late).toBeGreaterThan(-3000);
    }
    const stopping = bSeen.find((e) => e.__typename === "MachineStateChanged" && e.state === "STOPPING");
    expect(stopping && "reason" in stopping ? stopping.reason : undefined).toBe(LEASE_ENDED);
    const stoppedLate = Date.parse(stopping?.at as string) - endsB;
    expect(stoppedLate).toBeGreaterThanOrEqual(0);
    expect(stoppedLate).toBeLessThan(3000);
    const destroyed = bSeen.at(-1) as MachineEvent;
    console.log(
      `lease of B: warnings ${warnings.map((w) => `${((endsB - Date.parse(w.at)) / 1000).toFixed(2)} s`).join(", ")} before the end; ` +
        `stopping +${stoppedLate} ms after it, DESTROYED +${Date.parse(destroyed.at) - endsB} ms`,
    );
    expect(await readFile(join(studentB.home, "lab-work"), "utf8")).toBe("my-lab-work\n");
    expect((await stat(join(studentB.home, "lab-work"))).uid).toBe(studentB.uid);

    // A lives on for its extension, then goes the same way, its home kept too.
    expect((await client("a").machine(a0.id))?.state).toBe("READY");
    const aSeen = await aEvents;
    const aStopping = aSeen.find((e) => e.__typename === "MachineStateChanged" && e.reason === LEASE_ENDED);
    expect(Date.parse(aStopping?.at as string)).toBeGreaterThanOrEqual(Date.parse(extended.expiresAt as string));
    expect(aSeen.some((e) => e.__typename === "MachineLeaseExtended")).toBe(true);
    expect(await readFile(join(studentA.home, "lab-work"), "utf8")).toBe("my-lab-work\n");
    expect(await new Host(config).localIds()).toEqual([]);
  }, 240_000);

  it("boots a scheduled lab's ten machines so that all are READY before it opens", async () => {
    await client("admin").createCourse({
      name: "exam-e2e",
      instructors: ["course-prof"],
      hostAccountPrefix: "gaoltcs",
    });
    await client("prof").enrol(
      "exam-e2e",
      classAccounts.map((a) => ({ user: a.name, hostUser: a.name })),
    );
    // Booted 55 s ahead of an opening 60 s away (room for a full suite's load on two cores): the
    // pass runs in this replica's own keeper.
    const opensAt = new Date(Date.now() + 60_000);
    await client("prof").createLab("exam-e2e", {
      name: "exam",
      timeLimitSeconds: 600,
      opensAt: opensAt.toISOString(),
      prestartSeconds: 55,
    });
    let machines: Machine[] = [];
    const ta = tokens.ta as string;
    await client("prof").enrol("exam-e2e", [{ user: "course-ta", role: "TA" }]);
    for (;;) {
      machines = await new GaolClient({ url, token: ta, webSocket: WebSocket }).courseMachines("exam-e2e");
      if (machines.length === CLASS_SIZE && machines.every((m) => m.state === "READY")) break;
      if (Date.now() > opensAt.getTime() + 30_000) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const ready = machines.map((m) => Date.parse(m.readyAt ?? "")).sort((x, y) => x - y);
    const booted = Math.min(...machines.map((m) => Date.parse(m.createdAt)));
    console.log(
      `scheduled lab: ${machines.filter((m) => m.state === "READY").length}/${CLASS_SIZE} READY; ` +
        `booted ${((opensAt.getTime() - booted) / 1000).toFixed(1)} s before it opened, ` +
        `the last READY ${((opensAt.getTime() - (ready.at(-1) ?? 0)) / 1000).toFixed(1)} s before it opened ` +
        `(the class booted in ${(((ready.at(-1) ?? 0) - booted) / 1000).toFixed(1)} s)`,
    );
    expect(machines.map((m) => m.owner.name).sort()).toEqual(classAccounts.map((a) => a.name).sort());
    for (const m of machines) {
      expect(m.state).toBe("READY");
      expect(Date.parse(m.readyAt as string)).toBeLessThan(opensAt.getTime());
      expect(Date.parse(m.expiresAt as string)).toBe(opensAt.getTime() + 600_000);
    }

    // A student arriving finds theirs waiting, lets their key in, and is in at once.
    const first = classAccounts[0] as TestAccount;
    tokens.first = (await client("prof").createCourseToken("exam-e2e", first.name)).token;
    const mine = await client("first").startLab("exam-e2e", "exam", { sshPublicKeys: [ssh.publicKey] });
    expect(mine.id).toBe(machines.find((m) => m.owner.name === first.name)?.id);
    const keyed = await client("first").waitForReady(mine.id);
    await expect
      .poll(() => ssh.exec(first.name, keyed.ip, "id -un", keyed.hostKeys).catch((e: Error) => e.message), {
        timeout: 15_000,
      })
      .toBe(first.name);

    await Promise.all(
      machines.map(async (m) => {
        await client("admin").destroy(m.id);
        await client("admin").waitForState(m.id, "DESTROYED");
      }),
    );
  }, 240_000);

  it("ends the machine nobody uses at its idle limit, and keeps the one in use", async () => {
    const [busy, quiet] = [classAccounts[1], classAccounts[2]] as [TestAccount, TestAccount];
    await client("admin").createCourse({
      name: "idle-e2e",
      instructors: ["course-prof"],
      hostAccountPrefix: "gaoltcs",
    });
    await client("prof").enrol(
      "idle-e2e",
      [busy, quiet].map((a) => ({ user: a.name, hostUser: a.name })),
    );
    await client("prof").createLab("idle-e2e", { name: "idle", timeLimitSeconds: 300, idleLimitSeconds: 15 });
    for (const a of [busy, quiet]) tokens[a.name] = (await client("prof").createCourseToken("idle-e2e", a.name)).token;
    const [b, q] = await Promise.all(
      [busy, quiet].map((a) => client(a.name).startLab("idle-e2e", "idle", { sshPublicKeys: [ssh.publicKey] })),
    );
    const quietEvents = eventsUntilDestroyed(quiet.name, (q as Machine).id);
    const readyBusy = await client(busy.name).waitForReady((b as Machine).id);
    const started = Date.now();
    // A student at work: traffic on the LAN for longer than the idle limit, made inside the guest
    // (so neither a slow login nor a busy test process beside it can pause it), well past the
    // threshold even when a loaded host runs the loop at a fraction of its speed.
    await ssh.exec(
      "root",
      readyBusy.ip,
      `nohup bash -c 'for i in $(seq 1 80); do head -c 60000 /dev/zero > /dev/udp/${lan.gateway}/9; sleep 0.5; done' > /dev/null 2>&1 &`,
      readyBusy.hostKeys,
    );
    await client(quiet.name).waitForReady((q as Machine).id);
    const describe = async () =>
      (await Promise.all([b, q].map((m) => client("admin").machine((m as Machine).id))))
        .map(
          (m) => `${m?.owner.name} ${m?.state} ready ${m?.readyAt} active ${m?.lastActivityAt} ${m?.lastActivityKind}`,
        )
        .join("; ");
    const deadline = setTimeout(
      () => void describe().then((d) => console.log(`idle test still waiting: ${d}`)),
      60_000,
    );
    const quietSeen = await quietEvents;
    clearTimeout(deadline);
    const ended = quietSeen.find((e) => e.__typename === "MachineStateChanged" && e.state === "STOPPING");
    expect(ended && "reason" in ended ? ended.reason : undefined).toMatch(
      /^idle for 15 seconds: the host saw no use of it/,
    );
    const busyNow = (await client(busy.name).machine((b as Machine).id)) as Machine;
    expect(busyNow.state).toBe("READY");
    expect(busyNow.lastActivityKind).toBe("NETWORK");
    // Seen in use to the end, not only at its login.
    expect(Date.now() - Date.parse(busyNow.lastActivityAt as string)).toBeLessThan(5000);
    const quietNow = (await client(quiet.name).machine((q as Machine).id)) as Machine;
    const quietSince = Date.parse(quietNow.lastActivityAt ?? quietNow.readyAt ?? "");
    console.log(
      `idle limit 15 s: the unused machine ended ${((Date.parse(ended?.at as string) - quietSince) / 1000).toFixed(1)} s after ` +
        `it was last seen used (or READY); the one in use kept for ${((Date.now() - started) / 1000).toFixed(0)} s, ` +
        `last seen used ${((Date.now() - Date.parse(busyNow.lastActivityAt as string)) / 1000).toFixed(1)} s ago`,
    );
    await client("admin").destroy(busyNow.id);
    await client("admin").waitForState(busyNow.id, "DESTROYED");
  }, 120_000);
});
