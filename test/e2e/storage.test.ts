import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostConfigFromEnv } from "../../host/config.js";
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
