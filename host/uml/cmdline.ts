/** Everything one UML boot needs to know, as the kernel command line carries it. */
interface BootSpec {
  umid: string;
  umlDir: string;
  memoryMiB: number;
  ubd: string;
  tap: string;
  mac: string;
  hostname: string;
  owner: { name: string; uid: number; gid: number; home: string };
  /** Host directory the guest mounts read-only at /uml/run/gaol (host key, authorized keys). */
  guestConfigDir: string;
  /** PID 1 inside (default: gaol's startenv). */
  init?: string;
  /** Loops per jiffy measured on this host: the kernel skips calibrating its delay loop. */
  lpj?: number;
  /** The kernel leases eth0's address by DHCP before init (gaol's kernel with gaol's startenv). */
  kernelDhcp?: boolean;
  /** How the kernel opens the tap (the guest sees eth0 either way: 7.3's patches/0005). */
  tapTransport?: "tuntap" | "vector";
  /** Guest processes under seccomp, not ptrace (Linux 6.16 and later). */
  seccomp?: boolean;
}

/** Kernel arguments; the `KEY=value` words the kernel does not know become init's environment. */
export function kernelArgs(spec: BootSpec): string[] {
  return [
    `umid=${spec.umid}`,
    `uml_dir=${spec.umlDir}`,
    `mem=${spec.memoryMiB}M`,
    `ubd0=${spec.ubd}`,
    "root=/dev/ubda",
    "rw",
    spec.tapTransport === "vector"
      ? `vec0:transport=tap,ifname=${spec.tap},mac=${spec.mac}`
      : `eth0=tuntap,${spec.tap},${spec.mac}`,
    "con0=fd:0,fd:1",
    "con=null",
    "quiet",
    ...(spec.seccomp ? ["seccomp=on"] : []),
    ...(spec.lpj ? [`lpj=${spec.lpj}`] : []),
    // client:server:gateway:netmask:hostname:device:autoconf — the name goes to the DHCP server too.
    ...(spec.kernelDhcp ? [`ip=::::${spec.hostname}:eth0:dhcp`] : []),
    `init=${spec.init ?? "/uml/bin/startenv"}`,
    `UML_HOSTNAME=${spec.hostname}`,
    `UML_USER=${spec.owner.name}`,
    `UML_UID=${spec.owner.uid}`,
    `UML_GID=${spec.owner.gid}`,
    `UML_HOME=${spec.owner.home}`,
    `GAOL_CONFIG=${spec.guestConfigDir}`,
  ];
}
