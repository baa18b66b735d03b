import { InvalidOptionError, type HubError } from './errors.js';
import type { HubEvent } from './event.js';
import type { RoomStore } from './store.js';

/** Options of {@link MessageHub}. Only `chatroomId` is required. */
export interface MessageHubOptions<T = string> {
  /** The room's id, copied into every event as `chatroomId`. A non-empty string. */
  chatroomId: string;
  /**
   * How many commands may wait in the mailbox. Past it, `message()` and friends return a
   * pending promise: the command is kept, in order, and the caller is asked to wait.
   * @default 1024
   */
  mailboxSize?: number;
  /** How many of the latest events `history()` keeps. 0 keeps none. @default 1024 */
  historySize?: number;
  /**
   * How many events an attached listener may have waiting while its previous call is still
   * pending. When one listener's buffer is full the room stops processing until it has room,
   * which in turn slows publishers through the mailbox. Nothing is dropped.
   * @default 1024
   */
  listenerBufferSize?: number;
  /**
   * How many events a session stream keeps while it has no subscriber. Past it the session is
   * removed and its stream ends with a `BUFFER_OVERFLOW` error after replaying what it kept.
   * @default 16384
   */
  sessionBufferSize?: number;
  /**
   * Where the room's epoch, sequence and history live; every batch is committed here before anyone
   * sees it. Share one store between hubs so a room closed and created again goes on at its next
   * id. `@msghub/datalog`'s `FileStore` keeps rooms across restarts.
   * @default a new `MemoryStore` of this hub's own
   */
  store?: RoomStore;
  /**
   * Encode every event as JSON once, before it gets its id: a message that cannot be encoded is
   * refused (`UNENCODABLE`) and uses no id, and the text is shared with the store and with
   * transports through `hub.encoded(event)`.
   * @default the store's `encodes` (false for the `MemoryStore`)
   */
  encode?: boolean;
  /**
   * Start the room where an earlier incarnation stopped: the next event gets id
   * `lastEventId + 1`, and `history` (oldest first, ids up to `lastEventId`) preloads the ring.
   * A shorthand for a `MemoryStore` seeded with the room; not with `store`.
   */
  seed?: { readonly lastEventId: number; readonly history?: readonly HubEvent<T>[]; readonly epoch?: string };
  /**
   * Whether sessions entering and leaving the room are announced as events.
   * - `'all'`: every `add()` is a `join`/`add` event and every removal a `remove`/`leave`, each with
   *   its id in the room's sequence, seen by every session and listener and committed to the store.
   * - `'none'`: no announcement is made. A session enters and leaves without an event: no id is
   *   used, nothing is committed, sessions and listeners see only messages and `close`, and ids
   *   stay contiguous. `presence()` and `isOnline()` answer as before. For large rooms, where N
   *   sessions joining would cost N²/2 deliveries. Not with a store that sequences rooms (the
   *   cluster), which learns who is in a room from these events.
   * @default 'all'
   */
  presenceEvents?: PresenceEvents;
  /** Where `unixTime` comes from. @default Date.now */
  clock?: () => number;
  /**
   * Called with errors that have no caller to go to: a listener that threw or rejected. When it
   * is not set and nobody subscribes to `hub.errors`, they are written to `console.error`.
   */
  onError?: (error: HubError) => void;
}

/** What {@link MessageHubOptions.presenceEvents} can be. */
export type PresenceEvents = 'all' | 'none';

export interface ResolvedOptions<T> {
  readonly chatroomId: string;
  readonly mailboxSize: number;
  readonly historySize: number;
  readonly listenerBufferSize: number;
  readonly sessionBufferSize: number;
  /** Undefined: the hub keeps its sequence itself (the default, an in-memory room of its own). */
  readonly store: RoomStore | undefined;
  readonly seed: Seed<T> | undefined;
  readonly encode: boolean | undefined;
  readonly presenceEvents: PresenceEvents;
  readonly clock: () => number;
  readonly onError: ((error: HubError) => void) | undefined;
}

/** `mailboxSize: 0 (number)` style description of what was given. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} (${typeof value})`;
}

/** Checks that `value` is an integer ≥ `min`, or undefined (then `fallback`). */
export function integerOption(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(`Expected \`${name}\` to be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

function functionOption<F>(name: string, value: unknown): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidOptionError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
  return value as F | undefined;
}

function storeOption(store: unknown): RoomStore | undefined {
  if (store === undefined) return undefined;
  const s = store as Partial<RoomStore> | null;
  if (
    typeof s !== 'object' || s === null || typeof s.open !== 'function' || typeof s.append !== 'function' ||
    typeof s.read !== 'function' || typeof s.release !== 'function'
  ) {
    throw new InvalidOptionError(`Expected \`store\` to be a RoomStore (open, append, read, release), got ${describe(store)}`);
  }
  if (s.sequences === true && typeof s.follow !== 'function') {
    throw new InvalidOptionError('Expected a `store` that sequences rooms to have follow(), got none');
  }
  return store as RoomStore;
}

type Seed<T> = { readonly lastEventId: number; readonly history: readonly HubEvent<T>[]; readonly epoch?: string };

function seedOption<T>(chatroomId: string, seed: unknown): Seed<T> | undefined {
  if (seed === undefined) return undefined;
  if (typeof seed !== 'object' || seed === null) {
    throw new InvalidOptionError(`Expected \`seed\` to be an object, got ${describe(seed)}`);
  }
  const { lastEventId, history = [] } = seed as { lastEventId?: unknown; history?: unknown };
  const last = integerOption('seed.lastEventId', lastEventId ?? Number.NaN, 0, 0);
  if (!Array.isArray(history)) {
    throw new InvalidOptionError(`Expected \`seed.history\` to be an array, got ${describe(history)}`);
  }
  let previous = 0;
  for (const event of history as unknown[]) {
    const e = event as Partial<HubEvent<T>> | null;
    if (typeof e !== 'object' || e === null || typeof e.id !== 'number' || typeof e.type !== 'string') {
      throw new InvalidOptionError(`Expected \`seed.history\` to hold events, got ${describe(event)}`);
    }
    if (!Number.isSafeInteger(e.id) || e.id <= previous || e.id > last) {
      throw new InvalidOptionError(
        `Expected \`seed.history\` ids to increase and stay <= seed.lastEventId (${last}), got ${e.id}`,
      );
    }
    if (e.chatroomId !== chatroomId) {
      throw new InvalidOptionError(
        `Expected \`seed.history\` events of room ${JSON.stringify(chatroomId)}, got ${describe(e.chatroomId)}`,
      );
    }
    previous = e.id;
  }
  const { epoch } = seed as { epoch?: unknown };
  if (epoch !== undefined && (typeof epoch !== 'string' || epoch.length === 0)) {
    throw new InvalidOptionError(`Expected \`seed.epoch\` to be a non-empty string, got ${describe(epoch)}`);
  }
  return { lastEventId: last, history: history as HubEvent<T>[], ...(epoch === undefined ? {} : { epoch }) };
}

/** Checks a `presenceEvents` value: `'all'` or `'none'`, or undefined (then `'all'`). */
export function presenceEventsOption(value: unknown, name = 'presenceEvents'): PresenceEvents {
  if (value === undefined) return 'all';
  if (value !== 'all' && value !== 'none') {
    throw new InvalidOptionError(`Expected \`${name}\` to be 'all' or 'none', got ${describe(value)}`);
  }
  return value;
}

/** Validates `options` and fills in the defaults. Throws {@link InvalidOptionError}. */
export function resolveOptions<T>(options: MessageHubOptions<T>): ResolvedOptions<T> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`Expected options to be an object, got ${describe(options)}`);
  }
  const { chatroomId } = options;
  if (typeof chatroomId !== 'string' || chatroomId.length === 0) {
    throw new InvalidOptionError(`Expected \`chatroomId\` to be a non-empty string, got ${describe(chatroomId)}`);
  }
  const store = storeOption(options.store);
  const seed = seedOption<T>(chatroomId, options.seed);
  if (seed !== undefined && store !== undefined) {
    throw new InvalidOptionError('Expected either `store` or `seed`, got both');
  }
  const { encode } = options;
  if (encode !== undefined && typeof encode !== 'boolean') {
    throw new InvalidOptionError(`Expected \`encode\` to be a boolean, got ${describe(encode)}`);
  }
  const presenceEvents = presenceEventsOption(options.presenceEvents);
  if (presenceEvents === 'none' && store?.sequences === true) {
    throw new InvalidOptionError("Expected `presenceEvents: 'all'` with a `store` that sequences rooms (it learns who is in a room from them), got 'none'");
  }
  return {
    chatroomId,
    mailboxSize: integerOption('mailboxSize', options.mailboxSize, 1, 1024),
    historySize: integerOption('historySize', options.historySize, 0, 1024),
    listenerBufferSize: integerOption('listenerBufferSize', options.listenerBufferSize, 1, 1024),
    sessionBufferSize: integerOption('sessionBufferSize', options.sessionBufferSize, 1, 16384),
    store,
    seed,
    encode,
    presenceEvents,
    clock: functionOption<() => number>('clock', options.clock) ?? Date.now,
    onError: functionOption<(error: HubError) => void>('onError', options.onError),
  };
}
