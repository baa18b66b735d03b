/**
 * A {@link RoomStore} that times every commit of the store it wraps. Rooms commit once per drained
 * batch, so the clock is read twice per batch, never per event or per subscriber: the room's
 * fan-out does not change. The server puts it between its rooms and their store while metrics are on.
 */
import type { HubEvent, RoomFollower, RoomOpenOptions, RoomState, RoomStore } from '@msghub/messagehub';

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

  /** Whether the wrapped store sequences rooms itself (the cluster's): the rooms must know. */
  get sequences(): boolean {
    return this.#store.sequences === true;
  }

  open<T>(room: string, options: RoomOpenOptions): RoomState<T> | Promise<RoomState<T>> {
    return this.#store.open<T>(room, options);
  }

  /** Commits through the wrapped store; a batch is observed only once it is committed. */
  append<T>(room: string, events: readonly HubEvent<T>[], lines: readonly string[] | undefined): void | Promise<void | readonly number[]> {
    const started = performance.now();
    const written = this.#store.append(room, events, lines);
    if (written === undefined || typeof (written as { then?: unknown }).then !== 'function') {
      this.#observe(room, events, (performance.now() - started) / 1000);
      return written;
    }
    // A sequencing store answers the ids it gave: they go back to the room.
    return Promise.resolve(written).then((ids) => {
      this.#observe(room, events, (performance.now() - started) / 1000);
      return ids;
    });
  }

  follow<T>(room: string, afterId: number, follower: RoomFollower<T>): () => void {
    const follow = this.#store.follow;
    if (follow === undefined) throw new TypeError('The wrapped store does not sequence rooms');
    return follow.call(this.#store, room, afterId, follower) as () => void;
  }

  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]> {
    return this.#store.read<T>(room, since, limit);
  }

  release(room: string): void | Promise<void> {
    return this.#store.release(room);
  }
}
