import type { HubEvent } from './event.js';

/** Events per block, at most: a new block is allocated this often. */
const BLOCK = 256;

/**
 * The latest `capacity` events, oldest first. Capacity 0 keeps nothing.
 *
 * Events are written into blocks of up to 256 slots, and a full block is replaced by a newly
 * allocated one rather than overwritten. A long-lived ring would be in V8's old generation and
 * every event stored into it, being new, would pay the write barrier (recording an old-to-new
 * pointer); a new block is itself in the young generation, so storing into it costs a plain
 * store, and the barrier is paid once per block. The oldest block is dropped once the blocks
 * after it hold `capacity` events, so at most `capacity + 256` events are referenced.
 */
export class HistoryRing<T> {
  readonly #capacity: number;
  readonly #blockSize: number;
  /** Full blocks, oldest first, then `#open`. */
  #blocks: HubEvent<T>[][] = [];
  /** The block being written, and how many of its slots hold events. */
  #open: HubEvent<T>[];
  #fill = 0;

  constructor(capacity: number, initial: readonly HubEvent<T>[] = []) {
    this.#capacity = capacity;
    this.#blockSize = Math.min(capacity, BLOCK);
    this.#open = new Array<HubEvent<T>>(this.#blockSize);
    this.#blocks.push(this.#open);
    for (const event of initial.slice(Math.max(0, initial.length - capacity))) this.push(event);
  }

  /** Events kept (at most the capacity). */
  get size(): number {
    return Math.min(this.#capacity, this.#stored());
  }

  /** The id of the oldest event kept, or undefined when empty. */
  get oldestId(): number | undefined {
    const size = this.size;
    if (size === 0) return undefined;
    const skip = this.#stored() - size;
    const block = this.#blocks[Math.floor(skip / this.#blockSize)] as HubEvent<T>[];
    return (block[skip % this.#blockSize] as HubEvent<T>).id;
  }

  push(event: HubEvent<T>): void {
    const fill = this.#fill;
    if (fill < this.#blockSize) {
      this.#open[fill] = event;
      this.#fill = fill + 1;
      return;
    }
    if (this.#capacity === 0) return; // a block of size 0: nothing is ever written
    this.#startBlock()[0] = event;
    this.#fill = 1;
  }

  /** The kept events, oldest first. */
  toArray(): HubEvent<T>[] {
    const all: HubEvent<T>[] = [];
    const blocks = this.#blocks;
    const last = blocks.length - 1;
    for (let b = 0; b <= last; b++) {
      const block = blocks[b] as HubEvent<T>[];
      const length = b === last ? this.#fill : block.length;
      for (let i = 0; i < length; i++) all.push(block[i] as HubEvent<T>);
    }
    const extra = all.length - this.size;
    return extra > 0 ? all.slice(extra) : all;
  }

  /** The kept events with an id greater than `id`, oldest first. */
  after(id: number): HubEvent<T>[] {
    const all = this.toArray();
    const first = all.findIndex((event) => event.id > id);
    return first === -1 ? [] : all.slice(first);
  }

  /** Events referenced by the blocks, the kept ones and up to a block's worth older. */
  #stored(): number {
    return (this.#blocks.length - 1) * this.#blockSize + this.#fill;
  }

  /** Opens a new block after a full one; drops the oldest when the others hold the capacity. */
  #startBlock(): HubEvent<T>[] {
    const blocks = this.#blocks;
    if ((blocks.length - 1) * this.#blockSize >= this.#capacity) blocks.shift();
    const block = new Array<HubEvent<T>>(this.#blockSize);
    blocks.push(block);
    this.#open = block;
    return block;
  }
}
