import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HostCommandError } from "../../host/exec/error.js";
import { run } from "../../host/exec/run.js";

const gaol = fileURLToPath(new URL("../../bin/gaol", import.meta.url));
const env = { PATH: process.env.PATH ?? "", HOME: "/nonexistent" };

describe("the CLI's usage", () => {
  it("shows a student the commands for their machines, and an admin's on asking", async () => {
    const { stdout } = await run(gaol, ["help"], { env });
    expect(stdout).toContain("gaol up [NAME]");
    expect(stdout).not.toMatch(/^ {2}gaol (serve|agent|setup|hosts|audit|token create)\b/m);
    const admin = await run(gaol, ["help", "admin"], { env });
    expect(admin.stdout).toMatch(/^ {2}gaol serve \[--port 4000\]/m);
    expect(admin.stdout).toMatch(/^ {2}gaol token create --user NAME/m);
  });

  it("says a command is unknown in one line, and exits 2", async () => {
    const error = await run(gaol, ["frob"], { env }).catch((e: HostCommandError) => e);
    expect(error).toBeInstanceOf(HostCommandError);
    expect((error as HostCommandError).exitCode).toBe(2);
    expect((error as HostCommandError).message).toContain('gaol: unknown command "frob": gaol help lists them');
    expect((error as HostCommandError).message).not.toContain("usage:");
  });
});
