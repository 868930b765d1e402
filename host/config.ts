import { existsSync } from "node:fs";
import { join } from "node:path";

/** Where this host keeps things, and which LAN its machines join. */
export interface HostConfig {
  /** btrfs filesystem holding masters, image versions and gaols (GAOL_ROOT). */
  root: string;
  /** Agent state: per-machine runtime dirs, the loop-backed btrfs file (GAOL_STATE_DIR). */
  stateDir: string;
  /** Bridge the machines' taps join (GAOL_BRIDGE). */
  bridge: string;
  /** Network namespace holding the bridge; unset: the agent's own. */
  netns?: string;
  /** UML kernel binary (GAOL_KERNEL). */
  kernel: string;
  /**
   * Every kernel jailed, in a cgroup with limits, behind port security on its tap.
   * `GAOL_ISOLATION=off` exists to measure what that costs, never for real users.
   */
  isolation: boolean;
  /** Machines reach the LAN but not each other (GAOL_PORT_ISOLATION=on). */
  portIsolation: boolean;
  /** Jailed kernels run guest processes under seccomp instead of ptrace (GAOL_UML_SECCOMP=on; 6.16+ kernels). */
  umlSeccomp: boolean;
}

export const DEFAULT_BRIDGE = "gaol0";

export function hostConfigFromEnv(env: NodeJS.ProcessEnv = process.env): HostConfig {
  const root = env.GAOL_ROOT ?? "/uml";
  return {
    root,
    stateDir: env.GAOL_STATE_DIR ?? "/var/lib/gaol",
    bridge: env.GAOL_BRIDGE ?? DEFAULT_BRIDGE,
    netns: env.GAOL_NETNS || undefined,
    kernel: env.GAOL_KERNEL ?? defaultKernel(root),
    isolation: env.GAOL_ISOLATION !== "off",
    portIsolation: env.GAOL_PORT_ISOLATION === "on",
    umlSeccomp: env.GAOL_UML_SECCOMP === "on",
  };
}

/** gaol's own kernel when it has been built, else Debian's. */
function defaultKernel(root: string): string {
  const ours = join(root, "kernel", "linux");
  return existsSync(ours) ? ours : "/usr/bin/linux.uml";
}

export const paths = {
  masters: (c: HostConfig) => join(c.root, "masters"),
  master: (c: HostConfig, image: string) => join(c.root, "masters", image),
  images: (c: HostConfig, image: string) => join(c.root, "images", image),
  gaols: (c: HostConfig) => join(c.root, "gaols"),
  machines: (c: HostConfig) => join(c.stateDir, "machines"),
  machine: (c: HostConfig, name: string) => join(c.stateDir, "machines", name),
};
