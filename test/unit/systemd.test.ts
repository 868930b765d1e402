import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../host/exec/run.js";
import { writeSystemdUnits } from "../../host/setup/systemd.js";
import { tempDir } from "../helpers/temp-dir.js";

describe("gaol setup --systemd", () => {
  it("writes units that start gaol at boot and leave machines' kernels alone on a stop", async () => {
    const dir = await tempDir("gaol-systemd");
    const files = await writeSystemdUnits("/opt/gaol/bin/gaol", dir, join(dir, "gaol.env"));
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(["gaol.service", "gaol-agent.service"]);
    const serve = await readFile(join(dir, "gaol.service"), "utf8");
    expect(serve).toContain("ExecStart=/opt/gaol/bin/gaol serve\n");
    expect(serve).toContain("KillMode=process\n");
    expect(serve).toContain("Restart=on-failure\n");
    expect(serve).toContain("WantedBy=multi-user.target\n");
    expect(await readFile(join(dir, "gaol-agent.service"), "utf8")).toContain("ExecStart=/opt/gaol/bin/gaol agent\n");
    expect(existsSync(join(dir, "gaol.env"))).toBe(true);
    // systemd's own check of the files, where this machine has it (offline: it reads, starts nothing).
    if (existsSync("/usr/bin/systemd-analyze")) {
      const checked = await tempDir("gaol-systemd-verify");
      const units = await writeSystemdUnits("/bin/true", checked, join(checked, "gaol.env"));
      const { stderr } = await run("systemd-analyze", ["verify", ...units]);
      expect(stderr).toBe("");
    }
  });
});
