import type { MachineRecord } from "../machine/record.js";
import { bridgeProblem } from "./lan.js";
import { reattachTap, tapBridge } from "./tap.js";

/**
 * Keeps a running machine's tap on its bridge: a bridge deleted and made again (an admin's
 * fix, a network service restarted) gets the tap back. While the bridge is still gone, what
 * to do about it, for people; undefined when the tap is where it belongs.
 */
export async function rejoinBridge(
  record: Pick<MachineRecord, "tap" | "bridge" | "netns">,
  isolated: boolean,
): Promise<string | undefined> {
  const { tap, bridge, netns } = record;
  if ((await tapBridge(tap, netns)) === bridge) return undefined;
  const problem = await bridgeProblem({ bridge, netns });
  if (problem) return `its tap ${tap} is on no bridge (${bridge} was deleted under it): ${problem}`;
  await reattachTap(tap, bridge, netns, isolated);
  return undefined;
}
