import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HostConfigError } from "../../core/index.js";
import { run } from "../../host/exec/run.js";
import { checkHost, hostProblems, kernelProblem, ownDirProblem } from "../../host/setup/preflight.js";
import { ensureTunUsable, tunProblem } from "../../host/setup/tun.js";

// The tests run as root, who may pass anything: "can an ordinary account pass" is read from the mode bits.
let work: string;
beforeEach(async () => {
  // mkdtemp makes it 0700, like `mktemp -d`: the case that made every boot panic in make_umid.
  work = await mkdtemp(join(tmpdir(), "gaol-preflight-"));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe("the state dir and GAOL_ROOT", () => {
  it("refuses a state dir under a parent other accounts cannot enter, naming it and what to do", async () => {
    const stateDir = join(work, "state");
    expect(await ownDirProblem("GAOL_STATE_DIR", stateDir)).toBe(
      `GAOL_STATE_DIR=${stateDir}: machines' kernels run as their owners and cannot pass through ${work} (mode 0700): ` +
        `chmod o+x ${work}, or choose a place whose parents every account may enter`,
    );
  });

  it("names every closed parent, and passes once they are open", async () => {
    const deep = join(work, "a", "b");
    await mkdir(deep, { recursive: true, mode: 0o750 });
    await chmod(join(work, "a"), 0o750);
    const problem = await ownDirProblem("GAOL_STATE_DIR", join(deep, "state"));
    expect(problem).toContain(`cannot pass through ${work} (mode 0700), ${join(work, "a")} (mode 0750), ${deep}`);
    for (const dir of [work, join(work, "a"), deep]) await chmod(dir, 0o711);
    expect(await ownDirProblem("GAOL_STATE_DIR", join(deep, "state"))).toBeUndefined();
  });

  it("makes gaol's own dir when missing, and opens a closed one to other accounts (o+x, nothing to read)", async () => {
    await chmod(work, 0o755);
    const made = join(work, "made");
    expect(await ownDirProblem("GAOL_STATE_DIR", made)).toBeUndefined();
    expect((await modeOf(made)) & 0o001).toBe(0o001);
    const closed = join(work, "closed");
    await mkdir(closed, { mode: 0o700 });
    expect(await ownDirProblem("GAOL_ROOT", closed)).toBeUndefined();
    expect(await modeOf(closed)).toBe(0o711);
  });

  it("walks the real path: a symlink's own parents do not count, its target's do", async () => {
    await chmod(work, 0o755);
    const hidden = join(work, "hidden");
    await mkdir(join(hidden, "state"), { recursive: true });
    await chmod(hidden, 0o700);
    await symlink(join(hidden, "state"), join(work, "link"));
    expect(await ownDirProblem("GAOL_STATE_DIR", join(work, "link"))).toContain(
      `cannot pass through ${hidden} (mode 0700)`,
    );
  });
});

describe("the kernel", () => {
  it("must exist, be a file every account may execute, in directories every account may enter", async () => {
    const kernel = join(work, "linux");
    expect(await kernelProblem(kernel)).toBe(
      `GAOL_KERNEL=${kernel} does not exist: run gaol setup (it builds gaol's kernel), or point GAOL_KERNEL at a UML kernel`,
    );
    await writeFile(kernel, "#!/bin/sh\n", { mode: 0o700 });
    expect(await kernelProblem(kernel)).toBe(
      `GAOL_KERNEL=${kernel} is mode 0700: machines' kernels run as their owners, so every account must be able to execute it: chmod o+rx ${kernel}`,
    );
    await chmod(kernel, 0o755);
    expect(await kernelProblem(kernel)).toContain(`cannot pass through ${work} (mode 0700)`);
    await chmod(work, 0o711);
    expect(await kernelProblem(kernel)).toBeUndefined();
    expect(await kernelProblem(work)).toBe(`GAOL_KERNEL=${work} is not a file: point GAOL_KERNEL at a UML kernel`);
  });
});

describe("/dev/net/tun", () => {
  it("says what to do when it is missing or no device", async () => {
    const missing = join(work, "tun");
    expect(await tunProblem(missing)).toBe(
      `${missing} is missing: machines need it for their network; load the tun module (modprobe tun), or give a container the device`,
    );
    await expect(ensureTunUsable(missing)).rejects.toThrow(HostConfigError);
    await writeFile(missing, "");
    expect(await tunProblem(missing)).toMatch(/is not a character device/);
  });

  it("is made usable by every account when it is not", async () => {
    // A stand-in device node (the same numbers as /dev/null), owner-only as a fresh /dev/net/tun can be.
    const device = join(work, "tun");
    await run("mknod", ["-m", "0600", device, "c", "1", "3"]);
    expect(await tunProblem(device)).toBeUndefined();
    expect(await modeOf(device)).toBe(0o666);
  });
});

describe("all of it at start", () => {
  it("finds every problem at once, each one plain line, and checkHost refuses with all of them", async () => {
    const config = {
      root: join(work, "root"),
      stateDir: join(work, "state"),
      kernel: join(work, "linux"),
      // Read-only: asks this namespace for an interface no one has.
      bridge: "gaol-t-nobr0",
      isolation: false,
      portIsolation: false,
      umlSeccomp: false,
    };
    const problems = await hostProblems(config, { tun: join(work, "tun") });
    expect(problems.map((p) => p.split(/[ =:]/)[0])).toEqual([
      "GAOL_STATE_DIR",
      "GAOL_ROOT",
      "GAOL_KERNEL",
      join(work, "tun"),
      "GAOL_BRIDGE",
    ]);
    expect(problems.at(-1)).toBe(
      "GAOL_BRIDGE=gaol-t-nobr0 does not exist here: create it (ip link add gaol-t-nobr0 type bridge), or unset GAOL_BRIDGE for gaol's own LAN",
    );
    for (const problem of problems) expect(problem).not.toContain("\n");
    await expect(checkHost(config)).rejects.toThrow(HostConfigError);
  });
});
