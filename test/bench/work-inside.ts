import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hostConfigFromEnv } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { MachineCgroup } from "../../host/jail/cgroup.js";
import { buildKernelOnce } from "../../host/kernel/build.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { createSshClient } from "../helpers/ssh.js";
import { median, type Results } from "./results.js";

const NS = "gaol-bench-work";

/** Shell work timed where it runs (ms on its own clock, so ssh is not in it), in a scratch directory $1. */
const WORK: Record<string, string> = {
  "exec /bin/true ×100": "for i in $(seq 100); do /bin/true; done",
  "fork+wait (subshell) ×100": "for i in $(seq 100); do ( : ); done",
  "1000 files: write, tar c, rm, tar x":
    "mkdir d && for i in $(seq 1000); do echo $i > d/f$i; done && tar cf a.tar d && rm -rf d && tar xf a.tar",
  "cc -O2 hello.c ×3":
    "printf '#include <stdio.h>\\nint main(void){puts(\"hi\");return 0;}\\n' > h.c && for i in 1 2 3; do cc -O2 -o h h.c; done",
  "python3 -c pass ×10": "for i in $(seq 10); do python3 -c pass; done",
};

const timed = (script: string) =>
  `set -e; cd "$1"; s=$(date +%s%N); ${script}; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))`;

interface Variant {
  label: string;
  kernel: string;
  seccomp: boolean;
}

/**
 * The speed of work inside a machine against the same work on this host, in one run: each row
 * on the host, then inside a machine of each kernel (6.1 with ptrace, 7.3 with ptrace, 7.3 with
 * seccomp), rounds alternating so every variant sees the same stretch of this VM. Also each
 * variant's provision → READY and the CPU its boot took (the machine's cgroup).
 */
export async function benchWorkInside(work: string, results: Results, rounds = 3): Promise<void> {
  const base = hostConfigFromEnv();
  const log = (line: string) => console.log(`bench: ${line}`);
  const k61 = await buildKernelOnce(base, "6.1", log);
  const k73 = await buildKernelOnce(base, "7.3", log);
  const variants: Variant[] = [
    { label: "6.1 ptrace", kernel: k61, seccomp: false },
    { label: "7.3 ptrace", kernel: k73, seccomp: false },
    { label: "7.3 seccomp", kernel: k73, seccomp: true },
  ];
  const owner = await createAccount("gaolwork", 1555);
  const lan = await createTestLan(NS, 41, join(work, "work-lan"));
  const ssh = await createSshClient(join(work, "work-client"), NS);
  const hosts = variants.map((v, i) => {
    const host = new Host(
      {
        ...base,
        bridge: "br0",
        netns: NS,
        stateDir: join(work, `state-work-${i}`),
        kernel: v.kernel,
        umlSeccomp: v.seccomp,
      },
      { bootTimeoutMs: 120_000 },
    );
    host.warmUp();
    return host;
  });
  const scratch = join(work, "host-scratch");
  const rows = Object.keys(WORK);
  const times = new Map<string, number[]>();
  const add = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms]);
  try {
    const machines = [];
    for (const [i, host] of hosts.entries()) {
      const boots: number[] = [];
      const cpu: number[] = [];
      for (let b = 0; b < rounds; b++) {
        const t = performance.now();
        const handle = await host.provision(
          { name: `work-${i}-${b}`, owner: owner.name, memoryMiB: 512, sshPublicKeys: [ssh.publicKey] },
          () => undefined,
        );
        const ready = await handle.ready;
        boots.push(performance.now() - t);
        cpu.push(await (await MachineCgroup.of(`work-${i}-${b}`)).cpuSeconds());
        if (b < rounds - 1) await host.destroy(`work-${i}-${b}`);
        else machines.push({ ip: ready.ip, keys: handle.record.hostKeys });
      }
      results.set(`${variants[i]?.label}: provision → READY (median of ${rounds})`, median(boots), "ms");
      results.set(`${variants[i]?.label}: CPU per boot (cgroup, median)`, median(cpu), "s");
    }
    for (let r = 0; r < rounds; r++) {
      for (const row of rows) {
        const script = timed(WORK[row] as string);
        await rm(scratch, { recursive: true, force: true });
        await mkdir(scratch, { recursive: true });
        await writeFile(join(work, "row.sh"), script);
        add(`host ${row}`, Number((await run("bash", [join(work, "row.sh"), scratch])).stdout.trim()));
        for (const [i, m] of machines.entries()) {
          const inside = `rm -rf /root/w && mkdir -p /root/w && bash -c '${script.replaceAll("'", "'\\''")}' sh /root/w`;
          add(`${variants[i]?.label} ${row}`, Number((await ssh.exec("root", m.ip, inside, m.keys)).trim()));
        }
      }
    }
    for (const row of rows) {
      const host = median(times.get(`host ${row}`) ?? []);
      results.set(`host: ${row}`, host, "ms");
      for (const v of variants) {
        const inside = median(times.get(`${v.label} ${row}`) ?? []);
        results.set(`${v.label}: ${row}`, inside, "ms");
        results.set(`  ${v.label} ÷ host`, inside / Math.max(1, host), "×");
      }
    }
  } finally {
    for (const host of hosts) for (const id of await host.localIds()) await host.destroy(id).catch(() => undefined);
    await lan.destroy();
    await removeAccount(owner.name);
    await rm(scratch, { recursive: true, force: true });
  }
}
