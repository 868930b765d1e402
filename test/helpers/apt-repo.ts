import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../host/exec/run.js";

/** A flat apt repository with one tiny package, `gaol-hello`, that prints `hello from a .deb`. */
export async function buildAptRepo(dir: string): Promise<{ repo: string; packageName: string }> {
  const packageName = "gaol-hello";
  const root = join(dir, "pkg");
  const repo = join(dir, "repo");
  await mkdir(join(root, "DEBIAN"), { recursive: true });
  await mkdir(join(root, "usr", "bin"), { recursive: true });
  await mkdir(repo, { recursive: true });
  await writeFile(
    join(root, "DEBIAN", "control"),
    `Package: ${packageName}\nVersion: 1.0\nArchitecture: all\nMaintainer: gaol tests <tests@gaol.invalid>\nDescription: says hello\n`,
  );
  await writeFile(join(root, "usr", "bin", packageName), "#!/bin/sh\necho hello from a .deb\n");
  await chmod(join(root, "usr", "bin", packageName), 0o755);
  await run("dpkg-deb", ["--build", "--root-owner-group", root, join(repo, `${packageName}_1.0_all.deb`)]);
  const { stdout } = await run("dpkg-scanpackages", [".", "/dev/null"], { cwd: repo });
  await writeFile(join(repo, "Packages"), `${stdout}\n`);
  return { repo, packageName };
}
