import { HostCommandError } from "../exec/error.js";
import { run } from "../exec/run.js";

interface TapOptions {
  name: string;
  uid: number;
  gid: number;
  bridge: string;
  netns?: string;
  /** Port isolation: the tap reaches the bridge's other ports but not another isolated one. */
  isolated?: boolean;
}

/** The lines of an `ip -batch` that put a tap on its bridge, up (isolated, under port isolation). */
function attachLines(name: string, bridge: string, isolated?: boolean): string[] {
  // Names only (validated upstream, checked again here), one command per line.
  if (![name, bridge].every((word) => /^[A-Za-z0-9_.-]{1,15}$/.test(word)))
    throw new Error(`bad tap request ${JSON.stringify({ name, bridge })}`);
  return [
    `link set dev ${name} master ${bridge} up`,
    ...(isolated ? [`link set dev ${name} type bridge_slave isolated on`] : []),
  ];
}

/** A persistent tap the owner may open, attached to the bridge and up. */
export async function createTap({ name, uid, gid, bridge, netns, isolated }: TapOptions): Promise<void> {
  const attach = attachLines(name, bridge, isolated);
  if (![uid, gid].every(Number.isInteger)) throw new Error(`bad tap request ${JSON.stringify({ name, uid, gid })}`);
  try {
    await run("ip", ["-batch", "-"], {
      netns,
      input: [`tuntap add dev ${name} mode tap user ${uid} group ${gid}`, ...attach].join("\n"),
      timeoutMs: 10_000,
    });
  } catch (error) {
    await deleteTap(name, netns);
    throw error;
  }
}

/** The bridge a tap is on now: undefined when none (deleting a bridge leaves its taps on none). */
export async function tapBridge(name: string, netns?: string): Promise<string | undefined> {
  const { stdout } = await run("ip", ["-j", "link", "show", "dev", name], { netns, timeoutMs: 10_000 });
  const [link] = JSON.parse(stdout) as Array<{ master?: string }>;
  return link?.master;
}

/** Puts a tap back on its bridge (one deleted and made again under a running machine). */
export async function reattachTap(name: string, bridge: string, netns?: string, isolated?: boolean): Promise<void> {
  await run("ip", ["-batch", "-"], { netns, input: attachLines(name, bridge, isolated).join("\n"), timeoutMs: 10_000 });
}

/** Removes the tap, attached to a kernel or not (one netlink delete); a tap that is already gone is not an error. */
export async function deleteTap(name: string, netns?: string): Promise<void> {
  await run("ip", ["link", "del", "dev", name], { netns, timeoutMs: 10_000 }).catch((error: unknown) => {
    if (!(error instanceof HostCommandError && /Cannot find device/.test(error.stderrTail))) throw error;
  });
}

/** Bytes the tap has carried both ways since it was made: the machine's traffic, as the host counts it. */
export async function tapBytes(name: string, netns?: string): Promise<number> {
  const { stdout } = await run("ip", ["-j", "-s", "link", "show", "dev", name], { netns });
  const [link] = JSON.parse(stdout) as Array<{ stats64?: { rx: { bytes: number }; tx: { bytes: number } } }>;
  return (link?.stats64?.rx.bytes ?? 0) + (link?.stats64?.tx.bytes ?? 0);
}
