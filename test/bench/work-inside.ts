import { chown, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { hostConfigFromEnv } from "../../host/config.js";
import { run } from "../../host/exec/run.js";
import { Host } from "../../host/host.js";
import { MachineCgroup } from "../../host/jail/cgroup.js";
import { buildKernelOnce } from "../../host/kernel/build.js";
import { killProcessGroup } from "../../host/uml/process.js";
import { createAccount, removeAccount } from "../helpers/accounts.js";
import { createTestLan } from "../helpers/lan.js";
import { createSshClient } from "../helpers/ssh.js";
import { median, type Results } from "./results.js";

const NS = "gaol-bench-work";

/** Where a row runs: the root disk, or the owner's home (hostfs inside, the same directory on the host). */
type Where = "root" | "home";

interface Row {
  /** Timed, in a scratch directory $1; PEER is the LAN host's address, where a sink listens on SINK_PORT. */
  script: string;
  /** Run first, untimed. */
  setup?: string;
  where?: Where;
}

const SINK_PORT = 5099;
const FILES = "mkdir d && for i in $(seq 1000); do echo $i > d/f$i; done && tar cf a.tar d && rm -rf d && tar xf a.tar";

/** Shell work timed where it runs (ms on its own clock, so ssh is not in it). */
const WORK: Record<string, Row> = {
  "exec /bin/true ×100": { script: "for i in $(seq 100); do /bin/true; done" },
  "fork+wait (subshell) ×100": { script: "for i in $(seq 100); do ( : ); done" },
  "1000 files: write, tar c, rm, tar x": { script: FILES },
  "the same on the home (hostfs)": { script: FILES, where: "home" },
  "cc -O2 hello.c ×3": {
    script:
      "printf '#include <stdio.h>\\nint main(void){puts(\"hi\");return 0;}\\n' > h.c && for i in 1 2 3; do cc -O2 -o h h.c; done",
  },
  "make -j2: 16 C files, one library": {
    setup:
      "for i in $(seq 16); do printf 'int f%d(int x){int s=0;for(int i=0;i<x;i++)s+=i*%d;return s;}\\n' $i $i > f$i.c; done && " +
      "printf 'OBJS=$(patsubst %%.c,%%.o,$(wildcard f*.c))\\nlib.so: $(OBJS)\\n\\tcc -shared -o $@ $^\\n%%.o: %%.c\\n\\tcc -O2 -fPIC -c $< -o $@\\n' > Makefile",
    script: "make -s -j2",
  },
  "git clone --no-local of 300 files": {
    setup:
      "git init -q a && for i in $(seq 300); do echo $i > a/f$i; done && git -C a add . && " +
      "git -C a -c user.name=b -c user.email=b@example.org commit -qm files",
    script: "git clone -q --no-local a b",
  },
  "python3 -c pass ×10": { script: "for i in $(seq 10); do python3 -c pass; done" },
  "send 64 MiB to a LAN host (bash /dev/tcp)": {
    script: `head -c 67108864 /dev/zero > /dev/tcp/PEER/${SINK_PORT}`,
  },
};

const timed = ({ script, setup }: Row, peer: string) =>
  `set -e; cd "$1"; ${setup ?? ":"}; s=$(date +%s%N); ${script.replaceAll("PEER", peer)}; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))`;

/** A TCP sink on the LAN's peer host: reads every connection to its end, so a sender's time is the transfer's. */
function startSink(netns: string): ResultPromise {
  const sink = `import socket,threading
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", ${SINK_PORT})); s.listen(8)
def drain(c):
    while c.recv(1 << 20): pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=drain, args=(c,), daemon=True).start()`;
  return execa("ip", ["netns", "exec", netns, "python3", "-c", sink], { detached: true, reject: false });
}

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
  const sink = startSink(lan.peerNetns);
  const scratches: Record<Where, string> = { root: join(work, "host-scratch"), home: join(owner.home, "w") };
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
        const spec = WORK[row] as Row;
        const where = spec.where ?? "root";
        const scratch = scratches[where];
        // Made afresh for each run: the host's run (as root) leaves files a guest's owner may not remove.
        const fresh = async () => {
          await rm(scratch, { recursive: true, force: true });
          await mkdir(scratch, { recursive: true });
          if (where === "home") await chown(scratch, owner.uid, owner.uid);
        };
        await fresh();
        await writeFile(join(work, "row.sh"), timed(spec, lan.peerIp));
        // In the LAN's namespace: the network row's host figure crosses the same bridge and veth.
        add(`host ${row}`, Number((await run("bash", [join(work, "row.sh"), scratch], { netns: NS })).stdout.trim()));
        for (const [i, m] of machines.entries()) {
          if (where === "home") await fresh();
          const dir = where === "home" ? scratch : "/root/w";
          const script = timed(spec, lan.peerIp).replaceAll("'", "'\\''");
          const inside = `${where === "home" ? "" : `rm -rf ${dir} && mkdir -p ${dir} && `}bash -c '${script}' sh ${dir}`;
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
    if (sink.pid) await killProcessGroup(sink.pid).catch(() => undefined);
    await lan.destroy();
    await removeAccount(owner.name);
    await rm(scratches.root, { recursive: true, force: true });
  }
}
