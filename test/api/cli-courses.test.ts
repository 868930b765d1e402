import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostCommandError } from "../../host/exec/error.js";
import { run } from "../../host/exec/run.js";
import { keepLeases } from "../../services/leases.js";
import { startTestApi, type TestApi } from "../helpers/api.js";

const gaolBin = fileURLToPath(new URL("../../bin/gaol", import.meta.url));

let api: TestApi;
let url: string;
let home: string;
let admin: string;
let prof: string;
let agent: string;

/** The CLI as a user runs it: their token, a home with no ssh key, no terminal. */
function gaol(token: string, args: string[]) {
  return run(gaolBin, args, { env: { GAOL_API: url, GAOL_TOKEN: token, HOME: home }, timeoutMs: 30_000 });
}

async function failure(token: string, args: string[]): Promise<string> {
  const error = await gaol(token, args).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HostCommandError);
  return (error as HostCommandError).message;
}

let seq = 0;
async function report(machineId: string, state: string) {
  await api.ok(agent, "mutation ($e: [MachineEventInput!]!) { reportMachineEvents(events: $e) { stored } }", {
    e: [{ machineId, agentSeq: ++seq, kind: "MachineStateChanged", payload: { state } }],
  });
}

/** Plays the host: the first machine that appears goes PROVISIONING, BOOTING, READY. */
async function bootFirstMachine(owner: string): Promise<string> {
  for (;;) {
    const { machines } = await api.ok(admin, "{ machines { edges { node { id owner { name } } } } }");
    const found = machines.edges.find((e: { node: { owner: { name: string } } }) => e.node.owner.name === owner);
    if (found) {
      for (const state of ["PROVISIONING", "BOOTING", "READY"]) await report(found.node.id, state);
      return found.node.id;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  api = await startTestApi("postgres", undefined, { passIntervalMs: 0 });
  url = await api.app.start(0);
  home = await mkdtemp(join(tmpdir(), "gaol-cli-courses-"));
  agent = await api.login("cli-courses-host", "AGENT");
  admin = await api.login("cli-courses-admin", "ADMIN");
  prof = await api.login("cli-prof");
});
afterAll(async () => {
  await api?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("gaol course and gaol lab", () => {
  let student: string;

  it("let an admin make a course and its instructor enrol, mint tokens and add a lab", async () => {
    await gaol(admin, [
      "course",
      "create",
      "cs1",
      "--title",
      "Intro",
      "--instructor",
      "cli-prof",
      "--host-account-prefix",
      "c-",
    ]);
    const enrolled = await gaol(prof, ["course", "enrol", "cs1", "sam:c-sam", "kim:c-kim"]);
    expect(enrolled.stderr).toContain("gaol: sam is STUDENT in cs1 (runs as c-sam)");
    await gaol(prof, ["course", "enrol", "cs1", "tia:c-tia", "--role", "ta"]);
    student = (await gaol(prof, ["course", "token", "cs1", "sam"])).stdout.trim();
    const several = (await gaol(prof, ["course", "token", "cs1", "sam", "kim"])).stdout.split("\n");
    expect(several.map((line) => line.replace(/\tgaol_\w+$/, "\t…"))).toEqual(["sam\t…", "kim\t…"]);
    expect(student).toMatch(/^gaol_/);

    const lab = await gaol(prof, ["lab", "create", "cs1/intro", "--time", "1h", "--extend", "10m", "--warn", "5m"]);
    expect(lab.stderr).toContain("machines live 60 min, extendable by 10 min; students run gaol up --lab cs1/intro");
    expect(await failure(prof, ["lab", "create", "cs1/intro2"])).toContain("--time is how long each machine lives");
    expect(await failure(prof, ["lab", "create", "intro"])).toContain("usage: gaol lab create COURSE/LAB");

    const labs = (await gaol(student, ["lab", "ls"])).stdout;
    expect(labs).toMatch(/^LAB\s+IMAGE\s+MEMORY\s+TIME\s+EXTEND\s+WARNINGS\s+OPENS$/m);
    expect(labs).toMatch(/^cs1\/intro\s+debian\s+256 MiB\s+60 min\s+10 min\s+5 min\s+open$/m);
    expect((await gaol(student, ["course", "ls"])).stdout).toMatch(/^cs1\s+STUDENT\s+Intro\s+intro$/m);
  });

  it("gaol up --lab starts the student's lab machine and says when it ends", async () => {
    const [up, machineId] = await Promise.all([gaol(student, ["up", "--lab", "cs1/intro"]), bootFirstMachine("sam")]);
    expect(up.stdout.trim()).toBe("intro");
    expect(up.stderr).toMatch(/ready in .* — gaol ssh intro; the lab ends it in 60 min \(gaol extend adds time\)/);
    expect(await failure(student, ["up", "--lab", "cs1/intro", "--memory", "2048"])).toContain(
      "drop --image, --memory",
    );

    const ls = (await gaol(student, ["ls"])).stdout;
    expect(ls).toMatch(/^NAME\s+STATE\s+IP\s+MEMORY\s+IMAGE\s+OWNER\s+LAB\s+ENDS$/m);
    expect(ls).toMatch(/^intro\s+READY\s+-\s+256 MiB\s+debian\s+sam\s+cs1\/intro\s+in 60 min$/m);

    // The TA's view of the course; a student of it sees only their own row.
    const ta = (await gaol(prof, ["course", "token", "cs1", "tia"])).stdout.trim();
    expect((await gaol(ta, ["course", "machines", "cs1"])).stdout).toMatch(
      /^sam\s+intro\s+intro\s+READY\s+-\s+-\s+in 60 min$/m,
    );

    const extended = await gaol(student, ["extend", "intro", "--by", "4m"]);
    expect(extended.stderr).toContain("gaol: intro now ends in 64 min; 6 min more can be added");
    expect(await failure(student, ["extend", "intro", "--by", "7m"])).toMatch(
      /6 minutes more of extension .*ask for less/,
    );

    // A warning, as gaol logs shows it beside the boot's notices.
    const { machine } = await api.ok(admin, "query ($id: ID!) { machine(id: $id) { expiresAt } }", { id: machineId });
    await keepLeases(api.database.db, new Date(new Date(machine.expiresAt).getTime() - 299_000));
    expect((await gaol(student, ["logs", "intro"])).stdout).toMatch(
      /gaol: READY\n(.*\n)*gaol: lease extended by 4 min by sam, .*\ngaol: warning: this lab machine is destroyed in 5 minutes/,
    );
  });

  it("refuses to extend a machine that is not a lab's, saying why", async () => {
    await api.ok(student, `mutation { provisionMachine(input: { name: "plain" }) { __typename } }`);
    expect(await failure(student, ["extend", "plain"])).toContain(
      "plain is not a lab machine: it lives until you destroy it",
    );
    expect(await failure(student, ["extend", "nothing"])).toContain("you have no machine named");
  });
});
