import { chmod, mkdir, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Launched, launch, run } from "../../host/exec/run.js";

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

/** A served repository: the package, and the shell that installs it from the list only (none of the image's). */
export interface ServedAptRepo {
  server: Launched;
  packageName: string;
  /** Run as root inside a machine: writes the list, updates, installs the package; apt's output is left to show. */
  installCommand: string;
}

/** buildAptRepo's repository over HTTP from the LAN's other host (its peer namespace), port 8080. */
export async function serveAptRepo(dir: string, lan: { peerNetns: string; peerIp: string }): Promise<ServedAptRepo> {
  const { repo, packageName } = await buildAptRepo(dir);
  const log = await open(join(dir, "server.log"), "a");
  const script = fileURLToPath(new URL("./static-server.mjs", import.meta.url));
  const server = launch(process.execPath, [script, repo, "8080"], {
    netns: lan.peerNetns,
    outputFd: log.fd,
    env: { PATH: process.env.PATH ?? "" },
  });
  await log.close();
  const list = `deb [trusted=yes] http://${lan.peerIp}:8080/ ./`;
  const apt = "apt-get -q -o Dir::Etc::SourceList=/etc/apt/gaol-test.list -o Dir::Etc::SourceParts=/nonexistent";
  return {
    server,
    packageName,
    installCommand: `echo '${list}' > /etc/apt/gaol-test.list && ${apt} update && ${apt} install -y ${packageName}`,
  };
}
