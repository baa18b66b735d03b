import type { HubEvent } from './event.js';

/** A fixed-size ring of the latest events, oldest first. Capacity 0 keeps nothing. */
export class HistoryRing<T> {
  readonly #capacity: number;
  readonly #slots: HubEvent<T>[] = [];
  /** Index of the oldest event once the ring is full. */
  #start = 0;

  constructor(capacity: number, initial: readonly HubEvent<T>[] = []) {
    this.#capacity = capacity;
    for (const event of initial.slice(Math.max(0, initial.length - capacity))) this.push(event);
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The id of the oldest event kept, or undefined when empty. */
  get oldestId(): number | undefined {
    return this.#slots.length === 0 ? undefined : this.#slots[this.#start]?.id;
  }

  push(event: HubEvent<T>): void {
    const capacity = this.#capacity;
    if (capacity === 0) return;
    const slots = this.#slots;
    if (slots.length < capacity) {
      slots.push(event);
      return;
    }
    slots[this.#start] = event;
    this.#start = this.#start + 1 === capacity ? 0 : this.#start + 1;
  }

  /** The kept events, oldest first. */
  toArray(): HubEvent<T>[] {
    const slots = this.#slots;
    return this.#start === 0 ? slots.slice() : slots.slice(this.#start).concat(slots.slice(0, this.#start));
  }

  /** The kept events with an id greater than `id`, oldest first. */
  after(id: number): HubEvent<T>[] {
    const all = this.toArray();
    const first = all.findIndex((event) => event.id > id);
    return first === -1 ? [] : all.slice(first);
  }
}
