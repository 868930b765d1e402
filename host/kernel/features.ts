import { run } from "../exec/run.js";

/** What a UML kernel binary can do, from the config it carries (`--showconfig`). */
export interface KernelFeatures {
  /** It takes its address from DHCP itself (`ip=…:dhcp`, CONFIG_IP_PNP_DHCP): gaol's kernel does, Debian's does not (there `ip=` would reach init as a variable). */
  dhcp: boolean;
  /** How it reaches the owner's tap: legacy tuntap (up to 6.15), or vector (the only one since 6.16). */
  tapTransport: "tuntap" | "vector";
}

const cache = new Map<string, Promise<KernelFeatures>>();

/** Read once per kernel path. */
export function kernelFeatures(kernel: string): Promise<KernelFeatures> {
  let answer = cache.get(kernel);
  if (!answer) {
    answer = run(kernel, ["--showconfig"], { timeoutMs: 10_000 }).then(
      ({ stdout }) => featuresOf(stdout),
      () => featuresOf(""),
    );
    cache.set(kernel, answer);
  }
  return answer;
}

export function featuresOf(config: string): KernelFeatures {
  const has = (option: string) => new RegExp(`^CONFIG_${option}=y$`, "m").test(config);
  return {
    dhcp: has("IP_PNP_DHCP"),
    tapTransport: has("UML_NET_TUNTAP") || !has("UML_NET_VECTOR") ? "tuntap" : "vector",
  };
}
