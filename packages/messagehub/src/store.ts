import type { HubEvent } from './event.js';

/**
 * Where a room's sequence stands when it opens: the epoch that names the sequence, the id of its
 * last committed event (0 before the first) and its latest events, oldest first.
 */
export interface RoomState<T = unknown> {
  /**
   * Names the room's sequence. It is fixed when the room's durable history starts and kept while
   * it continues; a new epoch means the ids started again, and resumers are told (`gap`, `reset`).
   */
  readonly epoch: string;
  readonly lastEventId: number;
  /** At most the `historySize` asked for; ids increase and end at `lastEventId` when not empty. */
  readonly history: readonly HubEvent<T>[];
  /**
   * A sequencing store's view of who is in the room on every node as of `lastEventId`, in the order
   * they joined. The hub keeps it up to date from the events it follows.
   */
  readonly members?: readonly RoomMember[];
}

/** A user in a room and how many sessions it has there, on every node. */
export interface RoomMember {
  readonly userId: string;
  readonly sessions: number;
}

/**
 * Receives a room's committed events from a sequencing store ({@link RoomStore.follow}).
 */
export interface RoomFollower<T = unknown> {
  /**
   * The next committed events of the room, oldest first, and their JSON text. Returns a promise
   * when the room wants the store to wait before it hands over more (its mailbox is full).
   */
  events(events: readonly HubEvent<T>[], lines: readonly string[]): void | Promise<void>;
  /** The room's sequence can no longer be followed (it was lost or started again): the room stops. */
  failed(error: unknown): void;
}

/** What {@link RoomStore.open} is told about the room. */
export interface RoomOpenOptions {
  /** How many of the latest events the room keeps in memory (its `historySize`). */
  readonly historySize: number;
}

/**
 * The one place a room's epoch, sequence and history live. The hub opens its room here before it
 * handles anything, and commits every event here, one `append` per drained batch, *before* any
 * session, listener or publisher learns of it: what somebody has seen is never taken back by a
 * crash the store's durability covers.
 *
 * `MemoryStore` is the default and the reference; `@msghub/datalog` provides a file store and
 * `@msghub/cluster` a Redis one. One conformance suite runs against all of them.
 *
 * A method may return its result directly (the hub then stays synchronous) or a promise.
 */
export interface RoomStore {
  /**
   * When true the hub encodes every event (`JSON.stringify`) before it gets its id and hands the
   * text to `append`; an event that cannot be encoded is refused and consumes no id.
   */
  readonly encodes: boolean;
  /**
   * Opens a room: its epoch (a new one for a room the store has never seen), last id and history.
   * A room is open in at most one hub of a process at a time.
   */
  open<T>(room: string, options: RoomOpenOptions): RoomState<T> | Promise<RoomState<T>>;
  /**
   * Commits a batch of the room's events, ids consecutive after the last committed one. Resolves
   * once the batch is durable under the store's policy. A rejection means the outcome is unknown
   * (the batch may or may not be there when the room is opened again); the hub stops the room.
   *
   * @param lines the events' JSON text, when {@link encodes} is true
   */
  append<T>(
    room: string,
    events: readonly HubEvent<T>[],
    lines: readonly string[] | undefined,
  ): void | Promise<void | readonly number[]>;
  /**
   * The room's committed events with an id above `since`, oldest first, at most `limit`. Events
   * older than what the store keeps are not returned: the first id then tells where it starts.
   */
  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]>;
  /** The hub is done with the room (after its last append). The room may be opened again later. */
  release(room: string): void | Promise<void>;
  /**
   * True for a store that sequences rooms itself, for many processes at once (the cluster). The hub
   * then hands `append` events whose ids are placeholders, and delivers nothing until it comes back
   * through {@link follow}, in the store's order, its own events among everybody else's.
   *
   * Such an `append` resolves with one number per event: the id the store gave it, or 0 when it was
   * not appended. The store decides what the room's presence across every process means: an added
   * session's event becomes `join` for the user's first session in the room and `add` otherwise, a
   * removed one's `leave` or `remove`; an add of a session that is in the room already, and a removal
   * of one that is not there (or belongs to another process), are not appended. A `close` ends this
   * process's part: when no session of another process is left in the room it is appended (the
   * sessions of this process leave with it), else a `leave`/`remove` is appended for each session of
   * this process instead, and the number returned is the id of the last of them.
   */
  readonly sequences?: boolean;
  /**
   * With {@link sequences}: hands `follower` the room's committed events with ids above `afterId`,
   * in order, until the returned function is called.
   */
  follow?<T>(room: string, afterId: number, follower: RoomFollower<T>): () => void;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A random URL-safe id: 22 characters of 6 random bits each (132 bits), unique across restarts and
 * processes. The epoch of a new room sequence, and the transport's connection and message ids.
 */
export function randomId(): string {
  const bytes = new Uint8Array(22);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (let i = 0; i < bytes.length; i++) id += ALPHABET[(bytes[i] as number) & 63];
  return id;
}
