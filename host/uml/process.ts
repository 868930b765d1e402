import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** Pids of every process whose process group is pgid (UML's helpers included). */
export async function processGroupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // Fields after the ")" that closes comm: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") members.push(Number(entry));
  }
  return members;
}

/** Whether pid is still a live (not zombie) member of process group pgid. */
async function livesIn(pid: number, pgid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[2]) === pgid && fields[0] !== "Z";
}

/**
 * pid and its descendants that are in process group pgid, from /proc/<pid>/task/<tid>/children:
 * a few small reads, where scanning all of /proc reads every process on the host (~40 ms
 * with 400 of them, more with a hundred machines' worth). Falls back to that scan when
 * the kernel does not list children or pid is gone.
 */
async function descendantsIn(pid: number, pgid: number): Promise<number[]> {
  // Without its leader the group's tree is gone (orphans went to init): scan.
  if (!(await livesIn(pid, pgid))) return processGroupMembers(pgid);
  const found: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (await livesIn(next, pgid)) found.push(next);
    const tasks = await readdir(`/proc/${next}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const children = await readFile(`/proc/${next}/task/${tid}/children`, "utf8").catch(() => undefined);
      if (children === undefined) return processGroupMembers(pgid);
      queue.push(...children.split(" ").filter(Boolean).map(Number));
    }
  }
  return found;
}

/**
 * Group pgid's live members, read once (while the tree is whole: killed or exiting parents
 * hand their children to init); `remaining` re-reads only those, `rescan` the whole of /proc.
 */
async function watchGroup(pgid: number) {
  let members = await descendantsIn(pgid, pgid);
  return {
    async remaining(): Promise<number> {
      const alive = await Promise.all(members.map((pid) => livesIn(pid, pgid)));
      members = members.filter((_, i) => alive[i]);
      return members.length;
    },
    async rescan(): Promise<number> {
      members = await processGroupMembers(pgid);
      return members.length;
    },
  };
}

/** SIGKILLs the whole process group and waits until none of it is left (killed processes fork no more). */
export async function killProcessGroup(pgid: number, deadlineMs = 5000): Promise<void> {
  // kill(-0) or kill(-1) would hit the agent's own group or every process: never.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`refusing to kill process group ${pgid}`);
  const until = Date.now() + deadlineMs;
  const group = await watchGroup(pgid);
  while (Date.now() < until) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return;
      throw error;
    }
    if ((await group.remaining()) === 0) return;
    await sleep(5);
  }
  throw new Error(`process group ${pgid} survived SIGKILL for ${deadlineMs} ms`);
}

/** Waits up to ms for the process group to be gone; true when it is. */
export async function waitForGroupExit(pgid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  const group = await watchGroup(pgid);
  while (Date.now() < until) {
    // The group may have forked since it was read: one scan of /proc says so, once the rest is gone.
    if ((await group.remaining()) === 0 && (await group.rescan()) === 0) return true;
    await sleep(10);
  }
  return false;
}

/** True when pid is still the kernel started with this umid (pids are reused). */
export async function isKernelOf(pid: number, umid: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.split("\0").includes(`umid=${umid}`);
}

/** SIGKILLs members of group pgid that are still this kernel's clones. */
export async function killStragglers(pgid: number, umid: string): Promise<void> {
  for (const pid of await processGroupMembers(pgid)) {
    if (await isKernelOf(pid, umid)) process.kill(pid, "SIGKILL");
  }
}
