import { run } from "../exec/run.js";

const cache = new Map<string, Promise<boolean>>();

/**
 * Whether the kernel takes its address from DHCP itself (`ip=…:dhcp`, CONFIG_IP_PNP_DHCP):
 * gaol's kernel does, Debian's does not (there `ip=` would reach init as a variable).
 * Read once per kernel from the config UML carries (`--showconfig`).
 */
export function kernelDoesDhcp(kernel: string): Promise<boolean> {
  let answer = cache.get(kernel);
  if (!answer) {
    answer = run(kernel, ["--showconfig"], { timeoutMs: 10_000 }).then(
      ({ stdout }) => /^CONFIG_IP_PNP_DHCP=y$/m.test(stdout),
      () => false,
    );
    cache.set(kernel, answer);
  }
  return answer;
}
