/**
 * A hub's books when its store sequences the room (`RoomStore.sequences`): what each event it
 * appended stands for, found again by the id the store gave it when the event comes back, and what
 * waits for the room to have delivered up to an id (a query, a detach, the close). The hub alone
 * uses it, from its drain loop.
 */

// What an appended event stands for.
export const P_SEND = 0; // a: Deferred<number> | undefined (the publish to acknowledge)
export const P_ADD = 1; // a: Session, b: AddOptions
export const P_REMOVE = 2; // a: Session, b: Deferred | undefined
export const P_CLOSE = 3;

export interface Pending {
  readonly kind: number;
  readonly a: unknown;
  readonly b: unknown;
}

// What waits for an id.
export const W_QUERY = 0; // a: () => R, b: resolve, c: reject
export const W_DETACH = 1; // a: ListenerSlot, b: resolve
export const W_CLOSE = 2;

export interface Waiting {
  /** The id the room must have delivered first; -1 until the append of its batch has answered. */
  at: number;
  /** Events of its batch staged before it. */
  readonly staged: number;
  readonly kind: number;
  readonly a: unknown;
  readonly b: unknown;
  readonly c: unknown;
}

export class AppendLedger {
  /** What each event of the batch being built stands for, in staging order. */
  #batch: Pending[] = [];
  /** Appended events not delivered yet, by the id the store gave them. */
  readonly #appended = new Map<number, Pending>();
  /** The highest id this hub's appends have reached. */
  #appendedId = 0;
  /** In order; each lets something happen once the room has delivered up to its id. */
  #waiting: Waiting[] = [];

  /** The room opened at `lastEventId`: nothing of this hub's is before it. */
  opened(lastEventId: number): void {
    this.#appendedId = lastEventId;
  }

  /** Whether anything waits for an id. */
  get waiting(): boolean {
    return this.#waiting.length > 0;
  }

  /** Records what the next staged event of the batch stands for. */
  stage(kind: number, a?: unknown, b?: unknown): void {
    this.#batch.push({ kind, a, b });
  }

  /**
   * Lets something happen once every event staged before it is delivered.
   * @param staged events of the current batch staged before it
   */
  wait(kind: number, staged: number, a?: unknown, b?: unknown, c?: unknown): void {
    this.#waiting.push({ at: staged > 0 ? -1 : this.#appendedId, staged, kind, a, b, c });
  }

  /** Hands over the batch for its append. */
  takeBatch(): Pending[] {
    const batch = this.#batch;
    this.#batch = [];
    return batch;
  }

  /** The append of `batch` failed: it goes back, first, for {@link abandon}. */
  restore(batch: readonly Pending[]): void {
    this.#batch = [...batch, ...this.#batch];
  }

  /**
   * The store answered the append of `batch` with `ids` (0: not appended). Records the ids, and the
   * ids the waiters of the batch wait for.
   * @returns what was not appended, in order
   */
  settle(batch: readonly Pending[], ids: readonly number[]): Pending[] {
    const dropped: Pending[] = [];
    let last = this.#appendedId;
    const reached: number[] = [last];
    for (let i = 0; i < batch.length; i++) {
      const id = ids[i] as number;
      const item = batch[i] as Pending;
      if (id > last) last = id;
      reached.push(last);
      if (id === 0) dropped.push(item);
      else if (item.kind !== P_CLOSE && (item.kind !== P_SEND || item.a !== undefined)) this.#appended.set(id, item);
    }
    this.#appendedId = last;
    for (const waiting of this.#waiting) if (waiting.at === -1) waiting.at = reached[waiting.staged] ?? last;
    return dropped;
  }

  /** What the event with `id` stands for, if this hub appended it (once). */
  claim(id: number): Pending | undefined {
    const item = this.#appended.get(id);
    if (item !== undefined) this.#appended.delete(id);
    return item;
  }

  /** What waits for ids up to `delivered`, in order, taken out. */
  due(delivered: number): Waiting[] {
    const waiting = this.#waiting;
    let done = 0;
    while (done < waiting.length) {
      const item = waiting[done] as Waiting;
      if (item.at === -1 || item.at > delivered) break;
      done++;
    }
    if (done === 0) return [];
    this.#waiting = waiting.slice(done);
    return waiting.slice(0, done);
  }

  /** The room failed: everything still expected, taken out. */
  abandon(): { items: Pending[]; waiting: Waiting[] } {
    const items = [...this.#batch, ...this.#appended.values()];
    const waiting = this.#waiting;
    this.#batch = [];
    this.#appended.clear();
    this.#waiting = [];
    return { items, waiting };
  }
}
