/**
 * The rooms of a server: one {@link MessageHub} per room name, created on the first join (or only
 * through {@link RoomRegistry.create} when auto-creation is off), closed after it has had no
 * member for `idleTimeoutMs`. `onRoomCreated` runs for every new room before anyone joins, which
 * is where listeners such as the datalog are attached.
 */
import {
  InvalidOptionError,
  MemoryStore,
  MessageHub,
  type HubEvent,
  type MessageHubOptions,
  type PresenceEvents,
  type RoomStore,
} from '@msghub/messagehub';
import { RoomExistsError } from './errors.js';
import { TimedStore, type CommitObserver } from './timed-store.js';

/** Where a room starts: the id of its last event so far and its latest events (see `MessageHubOptions.seed`). */
export interface RoomSeed {
  readonly lastEventId: number;
  readonly history?: readonly HubEvent<unknown>[];
}

/** Options of {@link RoomRegistry}. */
export interface RoomRegistryOptions {
  /** Create rooms on demand in {@link RoomRegistry.open}. @default true */
  autoCreate?: boolean;
  /** Close a room that has had no member this long. 0 = never. @default 300000 */
  idleTimeoutMs?: number;
  hubOptions?: Omit<MessageHubOptions<unknown>, 'chatroomId'>;
  /**
   * Where every room's epoch, sequence and history live (see `RoomStore`). A room closed and
   * created again goes on at its next id.
   * @default `hubOptions.store`, else one `MemoryStore` shared by the registry's rooms
   */
  store?: RoomStore;
  onRoomCreated?: (hub: MessageHub<unknown>, room: string) => void;
  /**
   * Where a room the store has never seen starts (with the default `MemoryStore` only), so a room
   * created again after a restart goes on from its last event id instead of 1. A durable store
   * (`FileStore`) makes this unnecessary.
   */
  seedRoom?: (room: string) => RoomSeed | undefined;
  /** Receives what `onRoomCreated` throws, and the rooms' errors unless `hubOptions.onError` is set. @default console.error */
  onError?: (error: unknown) => void;
  /** Sees every batch a room commits and how long its store took (the server's metrics). @default none */
  onCommit?: CommitObserver;
  /**
   * Which rooms admit one session per user: a second connection of a user in the room is refused
   * with `USER_IN_ROOM`. `true` for every room, or a function of the room name. A room given its
   * own `uniqueUsers` in {@link RoomRegistry.create} keeps that. @default false
   */
  uniqueUsers?: boolean | ((room: string) => boolean);
  /**
   * Whether members entering and leaving a room are announced to everyone in it as
   * `join`/`add`/`remove`/`leave` events (`'all'`), or not at all (`'none'`: no event and no id;
   * `presence` and `online` still answer). A value for every room, or a function of the room name.
   * A room given its own `presenceEvents` in {@link RoomRegistry.create} keeps that. `'none'` is
   * refused with a store that sequences rooms (the cluster's).
   * @default `hubOptions.presenceEvents`, else 'all'
   */
  presenceEvents?: PresenceEvents | ((room: string) => PresenceEvents);
}

/** Options of {@link RoomRegistry.create}. */
export interface CreateRoomOptions {
  /**
   * What to do when the room is open already: `'return'` it, or `'fail'` with `RoomExistsError`
   * (`ROOM_EXISTS`). @default 'return'
   */
  readonly ifExists?: 'return' | 'fail';
  /**
   * Admit one session per user in this room (a second one is refused with `USER_IN_ROOM`). Kept
   * for the name, also after an idle close and when a join opens the room again.
   * @default the registry's `uniqueUsers`
   */
  readonly uniqueUsers?: boolean;
  /**
   * Announce members entering and leaving this room (`'all'`) or not (`'none'`); see
   * {@link RoomRegistryOptions.presenceEvents}. Kept for the name, also after an idle close and
   * when a join opens the room again. A room that is open already keeps the value it was opened
   * with: a different one is refused with `InvalidOptionError` (`INVALID_OPTION`).
   * @default the registry's `presenceEvents`
   */
  readonly presenceEvents?: PresenceEvents;
}

/** The longest delay platform timers hold; they run a longer one after 1 ms. */
const MAX_TIMER_DELAY = 2_147_483_647;

interface Room {
  readonly hub: MessageHub<unknown>;
  members: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** What is left of the idle timeout after the running idle timer. */
  idleLeft: number;
}

/** Names of rooms are non-empty strings of at most 256 characters. */
export function isRoomName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= 256;
}

export class RoomRegistry {
  readonly #rooms = new Map<string, Room>();
  readonly #autoCreate: boolean;
  readonly #idleTimeoutMs: number;
  readonly #hubOptions: Omit<MessageHubOptions<unknown>, 'chatroomId'>;
  readonly #store: RoomStore;
  /** What the rooms commit to: the store, timed when `onCommit` is given. */
  readonly #roomStore: RoomStore;
  readonly #onRoomCreated: RoomRegistryOptions['onRoomCreated'];
  readonly #seedRoom: RoomRegistryOptions['seedRoom'];
  readonly #onError: (error: unknown) => void;
  readonly #closing = new Set<Promise<void>>();
  /** Rooms being closed, by name: a join waits for the close so the next room starts after it. */
  readonly #closingByName = new Map<string, Promise<void>>();
  readonly #uniqueUsers: boolean | ((room: string) => boolean);
  /** The `uniqueUsers` given to `create`, by room name. */
  readonly #uniqueByName = new Map<string, boolean>();
  readonly #presenceEvents: PresenceEvents | ((room: string) => PresenceEvents);
  /** The `presenceEvents` given to `create`, by room name. */
  readonly #presenceByName = new Map<string, PresenceEvents>();

  constructor(options: RoomRegistryOptions = {}) {
    this.#autoCreate = options.autoCreate ?? true;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    this.#hubOptions = options.hubOptions ?? {};
    this.#store = options.store ?? this.#hubOptions.store ?? new MemoryStore();
    this.#roomStore = options.onCommit === undefined ? this.#store : new TimedStore(this.#store, options.onCommit);
    this.#onRoomCreated = options.onRoomCreated;
    this.#seedRoom = options.seedRoom;
    this.#onError = options.onError ?? console.error;
    const unique = options.uniqueUsers ?? false;
    if (typeof unique !== 'boolean' && typeof unique !== 'function') {
      throw new TypeError(`Expected \`uniqueUsers\` to be a boolean or a function, got ${unique === null ? 'null' : typeof unique}`);
    }
    this.#uniqueUsers = unique;
    this.#presenceEvents = registryPresenceEvents(options.presenceEvents ?? this.#hubOptions.presenceEvents, this.#store);
  }

  /**
   * Whether `room` admits one session per user: what `create` was given for it, else the
   * registry's `uniqueUsers`. A `uniqueUsers` function that throws counts as true (the error goes
   * to `onError`): a room meant to be unique is never opened to duplicates by a failing check.
   */
  uniqueUsers(room: string): boolean {
    const own = this.#uniqueByName.get(room);
    if (own !== undefined) return own;
    const unique = this.#uniqueUsers;
    if (typeof unique === 'boolean') return unique;
    try {
      return unique(room) === true;
    } catch (error) {
      this.#onError(error);
      return true;
    }
  }

  /**
   * Whether `room` announces members entering and leaving: the open room's value, else what
   * `create` was given for it, else the registry's `presenceEvents`. A `presenceEvents` function
   * that throws or answers something else counts as `'all'` (the error goes to `onError`).
   */
  presenceEvents(room: string): PresenceEvents {
    const open = this.#rooms.get(room);
    if (open !== undefined) return open.hub.presenceEvents;
    const own = this.#presenceByName.get(room);
    if (own !== undefined) return own;
    const chosen = this.#presenceEvents;
    if (typeof chosen === 'string') return chosen;
    try {
      const value = chosen(room);
      if (value === 'all' || value === 'none') return value;
      throw new InvalidOptionError(`Expected \`presenceEvents\` of room ${JSON.stringify(room)} to be 'all' or 'none', got ${describe(value)}`);
    } catch (error) {
      this.#onError(error);
      return 'all';
    }
  }

  /** Open rooms. */
  get size(): number {
    return this.#rooms.size;
  }

  /** Names of the open rooms, in creation order. */
  names(): string[] {
    return [...this.#rooms.keys()];
  }

  /** The room's hub, if it is open. */
  get(name: string): MessageHub<unknown> | undefined {
    return this.#rooms.get(name)?.hub;
  }

  /** The store every room of the registry lives in. */
  get store(): RoomStore {
    return this.#store;
  }

  /**
   * Opens a room (or returns the open one) whatever `autoCreate` says.
   * @throws {TypeError} for a name that is not a string of 1 to 256 characters, bad options, or a bad seed
   * @throws {RoomExistsError} (`ROOM_EXISTS`) with `ifExists: 'fail'` when the room is open already
   *   (on this server: in a cluster every node opens its own hub of a room)
   * @throws {InvalidOptionError} (`INVALID_OPTION`) for a `presenceEvents` other than 'all' or
   *   'none', one that differs from the open room's, or 'none' with a store that sequences rooms
   * @example
   * server.rooms.create('match-42', { ifExists: 'fail', uniqueUsers: true });
   * server.rooms.create('stadium', { presenceEvents: 'none' }); // 50,000 fans, no join/leave events
   */
  create(name: string, options: CreateRoomOptions = {}): MessageHub<unknown> {
    if (!isRoomName(name)) throw new TypeError(`Expected a room name of 1 to 256 characters, got ${typeof name}`);
    const { ifExists, uniqueUsers, presenceEvents } = createOptions(options);
    const existing = this.#rooms.get(name);
    if (existing !== undefined && ifExists === 'fail') throw new RoomExistsError(`Room ${name} exists already`);
    if (existing !== undefined && presenceEvents !== undefined && presenceEvents !== existing.hub.presenceEvents) {
      throw new InvalidOptionError(
        `Room ${name} is open with presenceEvents '${existing.hub.presenceEvents}': it cannot change to '${presenceEvents}' until it closes`,
      );
    }
    if (uniqueUsers !== undefined) this.#uniqueByName.set(name, uniqueUsers);
    if (existing !== undefined) return existing.hub;
    const store = this.#store;
    if (this.#seedRoom !== undefined && store instanceof MemoryStore && !store.has(name)) {
      const seed = this.#seedRoom(name);
      if (seed !== undefined) store.seed(name, seed);
    }
    // Rooms encode each event once: the store and every socket share the text, and a payload
    // that cannot be encoded is refused before it gets an id.
    const hub = new MessageHub<unknown>({
      encode: true,
      onError: this.#onError,
      ...this.#hubOptions,
      presenceEvents: presenceEvents ?? this.presenceEvents(name),
      store: this.#roomStore,
      chatroomId: name,
    });
    // Kept for the name once the room exists with it (a hub refusing the value keeps nothing).
    if (presenceEvents !== undefined) this.#presenceByName.set(name, presenceEvents);
    const room: Room = { hub, members: 0, idleTimer: undefined, idleLeft: 0 };
    this.#rooms.set(name, room);
    void hub.closed.then(() => this.#forget(name, hub));
    try {
      this.#onRoomCreated?.(hub, name);
    } catch (error) {
      this.#onError(error);
    }
    this.#armIdle(name, room);
    return hub;
  }

  /**
   * Resolves once the room of that name that is closing has closed (its listeners flushed), or is
   * undefined when none is closing. A new room created before then would be seeded from state that
   * lacks the old room's last events.
   */
  closing(name: string): Promise<void> | undefined {
    return this.#rooms.has(name) ? undefined : this.#closingByName.get(name);
  }

  /** The room for a join: the open one, a new one when `autoCreate`, else undefined. */
  open(name: string): MessageHub<unknown> | undefined {
    const room = this.#rooms.get(name);
    if (room !== undefined) return room.hub;
    return this.#autoCreate ? this.create(name) : undefined;
  }

  /** Counts a member in; a room with members is never idle. */
  retain(name: string): void {
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    room.members++;
    if (room.idleTimer !== undefined) {
      clearTimeout(room.idleTimer);
      room.idleTimer = undefined;
    }
  }

  /** Counts a member out; the last one out starts the idle timer. */
  release(name: string, hub: MessageHub<unknown>): void {
    const room = this.#rooms.get(name);
    if (room === undefined || room.hub !== hub) return;
    room.members = Math.max(0, room.members - 1);
    this.#armIdle(name, room);
  }

  /** Closes one room (its listeners flush); resolves when closed. */
  close(name: string): Promise<void> {
    const room = this.#rooms.get(name);
    if (room === undefined) return Promise.resolve();
    return this.#close(name, room);
  }

  /** Closes every room and waits for every close in flight, idle ones included. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#rooms].map(([name, room]) => this.#close(name, room)));
    await Promise.all([...this.#closing]);
  }

  #armIdle(name: string, room: Room): void {
    if (room.members > 0 || this.#idleTimeoutMs === 0 || room.idleTimer !== undefined) return;
    room.idleLeft = this.#idleTimeoutMs;
    this.#waitIdle(name, room);
  }

  /** Starts the idle timer; a timeout longer than a timer holds is waited for in steps. */
  #waitIdle(name: string, room: Room): void {
    const step = Math.min(room.idleLeft, MAX_TIMER_DELAY);
    room.idleLeft -= step;
    room.idleTimer = setTimeout(roomOnIdle, step, this, name);
    room.idleTimer.unref();
  }

  /** Called by the idle timer. */
  idle(name: string): void {
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    room.idleTimer = undefined;
    if (room.members > 0) return;
    if (room.idleLeft > 0) this.#waitIdle(name, room);
    else void this.#close(name, room);
  }

  #close(name: string, room: Room): Promise<void> {
    if (room.idleTimer !== undefined) clearTimeout(room.idleTimer);
    room.idleTimer = undefined;
    // Forget it now: a join during the close gets a fresh room instead of a closing one.
    if (this.#rooms.get(name) === room) this.#rooms.delete(name);
    const closing = room.hub.close();
    this.#closing.add(closing);
    this.#closingByName.set(name, closing);
    void closing.then(() => {
      this.#closing.delete(closing);
      if (this.#closingByName.get(name) === closing) this.#closingByName.delete(name);
    });
    return closing;
  }

  #forget(name: string, hub: MessageHub<unknown>): void {
    const room = this.#rooms.get(name);
    if (room?.hub !== hub) return;
    if (room.idleTimer !== undefined) clearTimeout(room.idleTimer);
    this.#rooms.delete(name);
  }
}

function createOptions(options: unknown): CreateRoomOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`Expected the options of \`create\` to be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const { ifExists, uniqueUsers, presenceEvents } = options as Record<string, unknown>;
  if (ifExists !== undefined && ifExists !== 'return' && ifExists !== 'fail') {
    throw new TypeError(`Expected \`ifExists\` to be 'return' or 'fail', got ${JSON.stringify(ifExists) ?? typeof ifExists}`);
  }
  if (uniqueUsers !== undefined && typeof uniqueUsers !== 'boolean') {
    throw new TypeError(`Expected \`uniqueUsers\` to be a boolean, got ${JSON.stringify(uniqueUsers) ?? typeof uniqueUsers}`);
  }
  if (presenceEvents !== undefined && presenceEvents !== 'all' && presenceEvents !== 'none') {
    throw new InvalidOptionError(`Expected \`presenceEvents\` to be 'all' or 'none', got ${describe(presenceEvents)}`);
  }
  return options as CreateRoomOptions;
}

/** The registry's `presenceEvents`: 'all', 'none' or a function; 'none' not with a sequencing store. */
function registryPresenceEvents(value: unknown, store: RoomStore): PresenceEvents | ((room: string) => PresenceEvents) {
  if (value === undefined) return 'all';
  if (value !== 'all' && value !== 'none' && typeof value !== 'function') {
    throw new InvalidOptionError(`Expected \`presenceEvents\` to be 'all', 'none' or a function of the room name, got ${describe(value)}`);
  }
  if (value === 'none' && store.sequences === true) {
    throw new InvalidOptionError("Expected `presenceEvents: 'all'` with a store that sequences rooms (the cluster's), got 'none'");
  }
  return value as PresenceEvents | ((room: string) => PresenceEvents);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  return typeof value;
}

function roomOnIdle(registry: RoomRegistry, name: string): void {
  registry.idle(name);
}
