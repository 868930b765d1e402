import { run } from "../exec/run.js";

/** Debian packages the host agent runs. */
export const HOST_PACKAGES = [
  "user-mode-linux",
  "uml-utilities",
  "btrfs-progs",
  "e2fsprogs",
  "debootstrap",
  "dnsmasq-base",
  "iproute2",
  "openssh-client",
  "rsync",
  "util-linux",
  // Port security on the machines' taps (the bridge family).
  "nftables",
  "patch",
  // gaol's own kernel is built from a Debian source package (downloaded with apt-get download).
  "bc",
  "bison",
  "flex",
  "libelf-dev",
  "libssl-dev",
  "make",
  "gcc",
  "xz-utils",
] as const;

async function missingPackages(names: readonly string[]): Promise<string[]> {
  const { stdout } = await run("dpkg-query", ["-W", "-f", "${Package} ${db:Status-Abbrev}\n", ...names], {
    timeoutMs: 30_000,
  }).catch((error) => ({ stdout: String(error.stdout ?? "") }));
  const installed = new Set(
    stdout
      .split("\n")
      .map((line) => line.split(" "))
      .filter(([, status]) => status?.startsWith("ii"))
      .map(([name]) => name),
  );
  return names.filter((name) => !installed.has(name));
}

/** apt-get installs whatever is missing; a no-op (one dpkg-query) when all are there. */
export async function ensurePackages(names: readonly string[], log: (line: string) => void): Promise<void> {
  const missing = await missingPackages(names);
  if (missing.length === 0) return;
  log(`installing ${missing.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update", "-q"], { timeoutMs: 600_000, env });
  await run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { timeoutMs: 1_200_000, env });
}
