import type { Timers } from './clock.js';
import type { DiscardReason } from './errors.js';

/** What happened to a frame handed to the client: written now, kept for the next connection, or dropped. */
export type SendResult = 'sent' | 'queued' | 'discarded';

/** Options of the buffer that keeps frames while the client is not connected. */
export interface SendBufferOptions {
  /** How many frames the buffer keeps. A frame sent while it is full is discarded (`full`). 0 disables buffering. @default 100 */
  maxFrames?: number;
  /** How long a frame may wait for a connection before it is discarded (`timeout`). @default 10000 */
  timeoutMs?: number;
}

interface Entry<T> {
  readonly item: T;
  readonly deadline: number;
}

/**
 * A bounded FIFO of items waiting for a connection. Items leave it in order, either through
 * {@link SendBuffer.drain} or through `onDiscard` (expired, or dropped by {@link SendBuffer.discardAll}).
 * One timer watches the oldest item: every item waits the same time, so deadlines are in order.
 */
export class SendBuffer<T> {
  readonly #maxFrames: number;
  readonly #timeoutMs: number;
  readonly #timers: Timers;
  readonly #onDiscard: (item: T, reason: DiscardReason) => void;
  #entries: Entry<T>[] = [];
  #timer: unknown = undefined;

  constructor(
    options: Required<SendBufferOptions>,
    timers: Timers,
    onDiscard: (item: T, reason: DiscardReason) => void,
  ) {
    this.#maxFrames = options.maxFrames;
    this.#timeoutMs = options.timeoutMs;
    this.#timers = timers;
    this.#onDiscard = onDiscard;
  }

  /** How many items wait. */
  get size(): number {
    return this.#entries.length;
  }

  /** Keeps `item` until the next drain, or discards it (`full`) and says so. */
  push(item: T): 'queued' | 'discarded' {
    if (this.#entries.length >= this.#maxFrames) {
      this.#onDiscard(item, 'full');
      return 'discarded';
    }
    this.#entries.push({ item, deadline: this.#timers.now() + this.#timeoutMs });
    if (this.#timer === undefined) this.#arm();
    return 'queued';
  }

  /** Removes and returns every waiting item, oldest first. */
  drain(): T[] {
    this.#disarm();
    const items = this.#entries.map(entryItem);
    this.#entries = [];
    return items;
  }

  /** Discards every waiting item with `reason`, oldest first. */
  discardAll(reason: DiscardReason): void {
    for (const item of this.drain()) this.#onDiscard(item, reason);
  }

  #arm(): void {
    const head = this.#entries[0];
    if (head === undefined) return;
    const wait = Math.max(0, head.deadline - this.#timers.now());
    this.#timer = this.#timers.setTimeout(() => this.#expire(), wait);
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#timers.now();
    let expired = 0;
    while (expired < this.#entries.length && this.#entries[expired]!.deadline <= now) expired++;
    const dropped = this.#entries.splice(0, expired);
    this.#arm();
    for (const entry of dropped) this.#onDiscard(entry.item, 'timeout');
  }
}

function entryItem<T>(entry: Entry<T>): T {
  return entry.item;
}
