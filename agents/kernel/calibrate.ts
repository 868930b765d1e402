import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../exec/run.js";

const cache = new Map<string, Promise<number | undefined>>();

/**
 * The kernel's loops-per-jiffy on this host. Each UML boot otherwise spends
 * ~0.16 s of its ~0.18 s before init calibrating its delay loop; `lpj=` skips
 * that. Measured once per kernel and process by booting it with no root disk
 * (it calibrates, then panics looking for one). Undefined when it cannot tell.
 */
export function kernelLpj(kernel: string): Promise<number | undefined> {
  let measured = cache.get(kernel);
  if (!measured) {
    measured = calibrate(kernel);
    cache.set(kernel, measured);
  }
  return measured;
}

async function calibrate(kernel: string): Promise<number | undefined> {
  const dir = await mkdtemp(join(tmpdir(), "gaol-lpj-"));
  try {
    // Stopped as soon as it says the number: the rest of its boot is of no use.
    const stop = new AbortController();
    let output = "";
    await run(kernel, [`uml_dir=${dir}`, "umid=lpj", "mem=32M", "con0=fd:0,fd:1", "con=null"], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", TMPDIR: "/dev/shm" },
      timeoutMs: 20_000,
      signal: stop.signal,
      onStdout: (chunk) => {
        output += chunk;
        if (/lpj=\d+/.test(output)) stop.abort();
      },
    }).catch(() => undefined);
    const lpj = Number(/lpj=(\d+)/.exec(output)?.[1]);
    return Number.isSafeInteger(lpj) && lpj > 0 ? lpj : undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
