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
  append<T>(room: string, events: readonly HubEvent<T>[], lines: readonly string[] | undefined): void | Promise<void>;
  /**
   * The room's committed events with an id above `since`, oldest first, at most `limit`. Events
   * older than what the store keeps are not returned: the first id then tells where it starts.
   */
  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]>;
  /** The hub is done with the room (after its last append). The room may be opened again later. */
  release(room: string): void | Promise<void>;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A random URL-safe id of 128 bits (22 characters), unique across restarts and processes: the
 * epoch of a new room sequence.
 */
export function randomId(): string {
  const bytes = new Uint8Array(22);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (let i = 0; i < bytes.length; i++) id += ALPHABET[(bytes[i] as number) & 63];
  return id;
}
