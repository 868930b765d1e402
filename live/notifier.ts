import type { Database, Db } from "../db/client.js";
import { EVENTS_CHANNEL, eventsAfter, MACHINES_CHANNEL, type StoredEvent } from "../db/queries/events.js";
import { IMAGES_CHANNEL } from "../db/queries/images.js";
import { Watch } from "./watch.js";

const TAIL_SIZE = 1000;

/** The newest events of one watched machine, read once per notification for all its watchers. */
interface MachineTail {
  watches: Set<Watch>;
  /** Called with each batch of new events in the turn it arrives (caught-up streams: machine-stream.ts). */
  followers: Set<(events: StoredEvent[]) => void>;
  /** Events after `from`, in order, with no gaps: buffer[0].seq === from + 1. */
  from?: number;
  buffer: StoredEvent[];
  fetching?: Promise<void>;
  again: boolean;
}

/** The last seq the tail holds (or, with nothing buffered, the one it starts after). */
function lastOf(tail: MachineTail): number | undefined {
  return tail.buffer.at(-1)?.seq ?? tail.from;
}

/** Appends the events that continue tail's buffer with no gap (older ones are skipped); returns those. */
function extend(tail: MachineTail, events: StoredEvent[]): StoredEvent[] {
  const first = events[0];
  if (!first) return [];
  if (tail.from === undefined) tail.from = first.seq - 1;
  let last = lastOf(tail) as number;
  const before = tail.buffer.length;
  for (const event of events) {
    if (event.seq <= last) continue;
    if (event.seq !== last + 1) break;
    tail.buffer.push(event);
    last = event.seq;
  }
  const added = tail.buffer.slice(before);
  const drop = tail.buffer.length - TAIL_SIZE;
  if (drop > 0) {
    tail.from = tail.buffer[drop - 1]?.seq;
    tail.buffer.splice(0, drop);
  }
  return added;
}

/** Hands new events to the tail's followers, then wakes its watchers. */
function publish(tail: MachineTail, added: StoredEvent[]): void {
  if (added.length === 0) return;
  for (const follower of tail.followers) follower(added);
  for (const watch of tail.watches) watch.notify();
}

/**
 * Fans Postgres notifications (ids only) out to this process's listeners.
 * With real Postgres every api replica gets every notification; with PGlite
 * they stay in-process. For each watched machine, one query per notification
 * serves every subscriber that has caught up (a thousand subscribers cost one
 * read, not a thousand).
 */
export class Notifier {
  private readonly tails = new Map<string, MachineTail>();
  private readonly machineListeners = new Set<(machineId: string) => void>();
  private readonly machineResyncs = new Set<(since: Date) => void>();
  private readonly imageWatches = new Map<string, Set<Watch>>();
  private unlisten: Array<() => Promise<void>> = [];

  constructor(private readonly database: Database) {}

  private get db(): Db {
    return this.database.db;
  }

  async start(): Promise<void> {
    this.unlisten.push(
      await this.database.listen(EVENTS_CHANNEL, (payload) => {
        const [machineId = "", seq] = payload.split(":");
        const tail = this.tails.get(machineId);
        if (tail) this.refresh(machineId, tail, Number(seq));
      }),
      await this.database.listen(MACHINES_CHANNEL, (machineId) => {
        for (const listener of this.machineListeners) listener(machineId);
      }),
      await this.database.listen(IMAGES_CHANNEL, (imageId) => {
        for (const watch of this.imageWatches.get(imageId) ?? []) watch.notify();
      }),
    );
    // Notifications sent while the connection was down are lost: every watched stream reads what it missed.
    const stopCatchingUp = this.database.onListenResumed((lostAt) => {
      for (const resync of this.machineResyncs) resync(lostAt);
      for (const [machineId, tail] of this.tails) {
        if (tail.from !== undefined) this.read(machineId, tail);
        else for (const watch of tail.watches) watch.notify();
      }
      for (const watches of this.imageWatches.values()) for (const watch of watches) watch.notify();
    });
    this.unlisten.push(async () => stopCatchingUp());
  }

  /** Reads what is new once, then wakes every watcher of the machine. */
  private refresh(machineId: string, tail: MachineTail, seq: number): void {
    if (tail.from === undefined) tail.from = seq - 1;
    // This process stored (and delivered) that batch itself: nothing to read.
    if (seq <= (lastOf(tail) as number)) return;
    this.read(machineId, tail);
  }

  /** Reads the machine's events after the tail's last, again while more are notified meanwhile. */
  private read(machineId: string, tail: MachineTail): void {
    if (tail.fetching) {
      tail.again = true;
      return;
    }
    tail.fetching = (async () => {
      do {
        tail.again = false;
        const last = lastOf(tail) as number;
        const fresh = await eventsAfter(this.db, machineId, last, TAIL_SIZE).catch(() => []);
        publish(tail, extend(tail, fresh));
      } while (tail.again);
    })().finally(() => {
      tail.fetching = undefined;
    });
  }

  /**
   * Events this process has just stored, after their commit: the machine's watchers get them
   * at once, without waiting for the notification and a read. Events that do not continue the
   * buffer exactly (another replica's batch in between) are left to the notification.
   */
  deliver(machineId: string, events: StoredEvent[]): void {
    const tail = this.tails.get(machineId);
    if (tail) publish(tail, extend(tail, events));
  }

  /** The last seq this process holds for the machine's watchers, if it holds any. */
  lastSeq(machineId: string): number | undefined {
    const tail = this.tails.get(machineId);
    return tail && lastOf(tail);
  }

  /** Calls follower with each batch of the machine's new events, in the turn it arrives, until the returned stop. */
  follow(machineId: string, follower: (events: StoredEvent[]) => void): () => void {
    const tail = this.tails.get(machineId);
    tail?.followers.add(follower);
    return () => tail?.followers.delete(follower);
  }

  /** How many streams watch the machine's events in this process. */
  watching(machineId: string): number {
    return this.tails.get(machineId)?.watches.size ?? 0;
  }

  /** Register before reading the backlog, so that nothing appended meanwhile is missed. */
  watchMachine(machineId: string): Watch {
    const tail: MachineTail = this.tails.get(machineId) ?? {
      watches: new Set(),
      followers: new Set(),
      buffer: [],
      again: false,
    };
    this.tails.set(machineId, tail);
    const watch: Watch = new Watch(() => {
      tail.watches.delete(watch);
      if (tail.watches.size === 0 && this.tails.get(machineId) === tail) this.tails.delete(machineId);
    });
    tail.watches.add(watch);
    return watch;
  }

  /**
   * The machine's events after cursor from memory, when memory reaches back
   * that far; undefined means "read the table".
   */
  bufferedAfter(machineId: string, cursor: number): StoredEvent[] | undefined {
    const tail = this.tails.get(machineId);
    if (!tail || tail.from === undefined || cursor < tail.from) return undefined;
    // The buffer holds consecutive sequence numbers from `from + 1`: slice, do not scan (1,000 watchers share it).
    return tail.buffer.slice(cursor - tail.from);
  }

  /** How many listen for changed machines (each `machines` subscription does). */
  get machineWatchers(): number {
    return this.machineListeners.size;
  }

  /** Calls listener with the id of each machine whose row changed. */
  onMachineChanged(listener: (machineId: string) => void): () => void {
    this.machineListeners.add(listener);
    return () => this.machineListeners.delete(listener);
  }

  /** Calls resync with when LISTEN was lost, once it is back: machines changed meanwhile were not notified. */
  onMachinesResync(resync: (since: Date) => void): () => void {
    this.machineResyncs.add(resync);
    return () => this.machineResyncs.delete(resync);
  }

  /** Woken by each new event of the image (image events are few: every watcher reads the table itself). */
  watchImage(imageId: string): Watch {
    const watches = this.imageWatches.get(imageId) ?? new Set<Watch>();
    this.imageWatches.set(imageId, watches);
    const watch: Watch = new Watch(() => {
      watches.delete(watch);
      if (watches.size === 0 && this.imageWatches.get(imageId) === watches) this.imageWatches.delete(imageId);
    });
    watches.add(watch);
    return watch;
  }

  async stop(): Promise<void> {
    for (const unlisten of this.unlisten) await unlisten().catch(() => undefined);
    this.unlisten = [];
  }
}
