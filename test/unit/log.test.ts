import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { run } from "../../host/exec/run.js";

const tsx = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));
const logModule = fileURLToPath(new URL("../../commands/log.ts", import.meta.url));

/** What commandLog writes on stderr for two lines, in a process of its own (pino writes to fd 2). */
async function stderrOf(format: string): Promise<string> {
  const script = `import { commandLog } from ${JSON.stringify(logModule)};
const log = commandLog("api", "gaol");
log("lease ended: machine destroyed", { machineId: "m-1" });
log("lease pass failed: boom", { level: "error" });`;
  const { stderr } = await run(tsx, ["--eval", script], {
    env: { PATH: process.env.PATH ?? "", GAOL_LOG_FORMAT: format },
  });
  return stderr;
}

describe("commandLog", () => {
  it("writes pino JSON lines with the line's fields under GAOL_LOG_FORMAT=json", async () => {
    const lines = (await stderrOf("json"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      level: 30,
      service: "api",
      machineId: "m-1",
      msg: "lease ended: machine destroyed",
    });
    expect(lines[0].time).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(lines[1]).toMatchObject({ level: 50, msg: "lease pass failed: boom" });
    expect(lines[1]).not.toHaveProperty("machineId");
  });

  it("writes words for a person otherwise, with the fields the words do not say", async () => {
    expect(await stderrOf("")).toBe(
      "gaol: lease ended: machine destroyed machineId=m-1\ngaol: lease pass failed: boom",
    );
  });
});
