import { type Actor, RateLimitedError, type RateLimiter } from "../core/index.js";
import type { Db } from "../db/client.js";
import type { StoredEvent } from "../db/queries/events.js";
import type { Machine } from "../db/queries/machines.js";
import type { User } from "../db/queries/users.js";
import type { Notifier } from "../live/index.js";

/** Who is asking: the token's user, the token itself, and for an AGENT the host it speaks for. */
export interface Viewer {
  user: User;
  tokenId: string;
  hostId?: string;
  /** Courses where the user is an INSTRUCTOR or TA: their lab machines are visible to them. */
  staffCourses?: ReadonlySet<string>;
}

export interface Context {
  db: Db;
  notifier: Notifier;
  /** Mutations per token, kept by this api process. */
  rateLimiter: RateLimiter;
  viewer?: Viewer;
  /** Without a viewer: why the token let no one in, and what to do, for the "Not authorized" error. */
  refusal?: string;
  /** Told of each machine's events an agent's report stored (the api's metrics). */
  observeEvents?: (machineId: string, events: readonly StoredEvent[]) => void;
}

/** Global ids are not secrets: every read of a machine checks this. */
export function canSeeMachine(
  ctx: Context,
  machine: Pick<Machine, "ownerId" | "hostId"> & { courseId?: string | null },
): boolean {
  const viewer = ctx.viewer;
  if (!viewer) return false;
  switch (viewer.user.role) {
    case "ADMIN":
      return true;
    case "AGENT":
      return viewer.hostId !== undefined && machine.hostId === viewer.hostId;
    default:
      return (
        machine.ownerId === viewer.user.id ||
        (machine.courseId != null && viewer.staffCourses?.has(machine.courseId) === true)
      );
  }
}

/** The viewer as the audit log names them; only called behind an auth scope, so there is one. */
export function actorOf(ctx: Context): Actor {
  const viewer = ctx.viewer as Viewer;
  return { userId: viewer.user.id, userName: viewer.user.name, tokenId: viewer.tokenId };
}

/**
 * Spends one of the viewer's token's mutations; over the limit, a RateLimitedError. Agents are
 * never limited: they report every console line of every machine, in batches.
 */
export function spendMutation(ctx: Context): void {
  const viewer = ctx.viewer;
  if (!viewer || viewer.user.role === "AGENT") return;
  const wait = ctx.rateLimiter.take(viewer.tokenId);
  if (wait > 0) throw new RateLimitedError(wait);
}
