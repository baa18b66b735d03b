import type { HubEvent } from './event.js';
import { randomId, type RoomOpenOptions, type RoomState, type RoomStore } from './store.js';

interface MemoryRoom {
  readonly epoch: string;
  lastEventId: number;
  /** The latest events, oldest first; trimmed to `limit` once it holds twice that. */
  events: HubEvent<unknown>[];
  limit: number;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Events kept per room for `read` and for the history of a room opened again. The store keeps
   * at least the `historySize` each room was opened with.
   * @default 1024
   */
  retain?: number;
}

/**
 * The in-memory {@link RoomStore}: the default of every `MessageHub`. A room's sequence lives as
 * long as the store does, so a room closed and opened again on the same store goes on at the next
 * id with the same epoch; a new process starts new epochs. Commits are synchronous and survive
 * nothing but the process.
 *
 * @example
 * const store = new MemoryStore();
 * const first = new MessageHub({ chatroomId: 'lobby', store });
 * await first.close();
 * const again = new MessageHub({ chatroomId: 'lobby', store }); // ids go on after the close
 */
export class MemoryStore implements RoomStore {
  readonly encodes = false;
  readonly #retain: number;
  readonly #rooms = new Map<string, MemoryRoom>();

  constructor(options: MemoryStoreOptions = {}) {
    const retain = options.retain ?? 1024;
    if (!Number.isSafeInteger(retain) || retain < 0) {
      throw new TypeError(`Expected \`retain\` to be an integer >= 0, got ${String(retain)}`);
    }
    this.#retain = retain;
  }

  /**
   * Starts `room` where an earlier incarnation stopped (a room the store has not seen yet).
   * @throws {TypeError} when the room is already known
   */
  seed<T>(room: string, state: { readonly lastEventId: number; readonly history?: readonly HubEvent<T>[]; readonly epoch?: string }): void {
    if (this.#rooms.has(room)) throw new TypeError(`Room ${JSON.stringify(room)} is already in the store`);
    this.#rooms.set(room, {
      epoch: state.epoch ?? randomId(),
      lastEventId: state.lastEventId,
      events: [...(state.history ?? [])] as HubEvent<unknown>[],
      limit: this.#retain,
    });
  }

  open<T>(room: string, options: RoomOpenOptions): RoomState<T> {
    let state = this.#rooms.get(room);
    if (state === undefined) {
      state = { epoch: randomId(), lastEventId: 0, events: [], limit: this.#retain };
      this.#rooms.set(room, state);
    }
    state.limit = Math.max(this.#retain, options.historySize);
    const history = options.historySize === 0 ? [] : state.events.slice(-options.historySize);
    return { epoch: state.epoch, lastEventId: state.lastEventId, history: history as HubEvent<T>[] };
  }

  append<T>(room: string, events: readonly HubEvent<T>[]): void {
    const state = this.#rooms.get(room);
    if (state === undefined) throw new Error(`Room ${JSON.stringify(room)} is not open in this store`);
    const last = events[events.length - 1];
    if (last === undefined) return;
    state.lastEventId = last.id;
    if (state.limit === 0) return;
    const kept = state.events;
    for (let i = 0; i < events.length; i++) kept.push(events[i] as HubEvent<unknown>);
    if (kept.length >= 2 * state.limit) kept.splice(0, kept.length - state.limit);
  }

  read<T>(room: string, since: number, limit = Infinity): Promise<HubEvent<T>[]> {
    const state = this.#rooms.get(room);
    if (state === undefined) return Promise.resolve([]);
    const events = state.events.slice(-state.limit);
    const first = events.findIndex((event) => event.id > since);
    if (first === -1) return Promise.resolve([]);
    return Promise.resolve(events.slice(first, first + limit) as HubEvent<T>[]);
  }

  release(): void {}

  /** Whether the store knows `room` (it was opened or seeded). */
  has(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** Rooms the store knows. */
  get size(): number {
    return this.#rooms.size;
  }
}
