import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostConfigFromEnv } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { ensureBtrfs } from "../../host/setup/btrfs.js";
import { createRootDisk } from "../../host/storage/index.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(parent: string): Promise<string> {
  const dir = await mkdtemp(join(parent, "gaol-t-storage-"));
  dirs.push(dir);
  return dir;
}

describe("root disks", () => {
  it("reflinks the image on btrfs, owned by the owner with mode 0600", async () => {
    const dir = await tempDir(hostConfigFromEnv().root);
    const image = join(dir, "image.img");
    await writeFile(image, Buffer.alloc(1 << 20, 7));
    const disk = await createRootDisk({ image, base: join(dir, "m"), uid: 1777, gid: 1778 }, join(dir, "cow"));
    expect(disk.kind).toBe("reflink");
    const st = await stat(disk.ubd);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1777, 1778, 0o600]);
  });

  it("falls back to UML's own COW file where the filesystem cannot reflink", async () => {
    const dir = await tempDir("/dev/shm");
    const image = join(dir, "image.img");
    await writeFile(image, Buffer.alloc(1 << 20, 7));
    const disk = await createRootDisk({ image, base: join(dir, "m"), uid: 1777, gid: 1778 }, join(dir, "cow"));
    expect(disk).toEqual({
      kind: "ubd-cow",
      ubd: `${join(dir, "cow")}.cow,${image}`,
      files: [`${join(dir, "cow")}.cow`],
    });
  });
});

describe("the loop-backed btrfs file", () => {
  it("is readable by root alone: every user's root disk is inside it", async () => {
    const config = hostConfigFromEnv();
    await ensureBtrfs(config.root, config.stateDir, () => undefined);
    const { stdout: source } = await run("findmnt", ["-n", "-o", "SOURCE", "--target", config.root]);
    // A host whose GAOL_ROOT is a real btrfs has no such file; CI's is loop-backed.
    if (!source.startsWith("/dev/loop")) return;
    const { stdout: file } = await run("losetup", ["-n", "-O", "BACK-FILE", source.trim()]);
    const st = await stat(file.trim());
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
  });
});
