/**
 * A {@link RoomStore} that times every commit of the store it wraps. Rooms commit once per drained
 * batch, so the clock is read twice per batch, never per event or per subscriber: the room's
 * fan-out does not change. The server puts it between its rooms and their store while metrics are on.
 */
import type { HubEvent, RoomOpenOptions, RoomState, RoomStore } from '@msghub/messagehub';

/** Receives each committed batch: its room, its events and how long the store took, in seconds. */
export type CommitObserver = (room: string, events: readonly HubEvent<unknown>[], seconds: number) => void;

export class TimedStore implements RoomStore {
  readonly #store: RoomStore;
  readonly #observe: CommitObserver;

  constructor(store: RoomStore, observe: CommitObserver) {
    this.#store = store;
    this.#observe = observe;
  }

  get encodes(): boolean {
    return this.#store.encodes;
  }

  open<T>(room: string, options: RoomOpenOptions): RoomState<T> | Promise<RoomState<T>> {
    return this.#store.open<T>(room, options);
  }

  /** Commits through the wrapped store; a batch is observed only once it is committed. */
  append<T>(room: string, events: readonly HubEvent<T>[], lines: readonly string[] | undefined): void | Promise<void> {
    const started = performance.now();
    const written = this.#store.append(room, events, lines);
    if (written === undefined || typeof (written as { then?: unknown }).then !== 'function') {
      this.#observe(room, events, (performance.now() - started) / 1000);
      return written;
    }
    return Promise.resolve(written).then(() => this.#observe(room, events, (performance.now() - started) / 1000));
  }

  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]> {
    return this.#store.read<T>(room, since, limit);
  }

  release(room: string): void | Promise<void> {
    return this.#store.release(room);
  }
}
