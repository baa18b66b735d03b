/**
 * A connection's bounded outgoing queue. Frames wait here between the moment the room (or a
 * reply) produces them and the next flush, which writes them all at once. The bound counts frames
 * and bytes (UTF-16 units of the JSON text, which is the byte count for ASCII); at the bound the
 * policy decides: `close` reports overflow, `drop-oldest` discards the oldest room events and puts
 * a `gap` frame (reason `dropped`) in their place, so the loss is visible.
 */
import type { GapFrame } from './protocol.js';

/** What happens when a connection's outgoing queue is full. */
export type SlowConsumerPolicy = 'close' | 'drop-oldest';

interface Item {
  text: string;
  /** Set on room events (the only frames drop-oldest may discard). */
  room: string | undefined;
  id: number;
  /** Set on a gap frame this outbox created, so later drops can extend it. */
  gap: GapFrame | undefined;
}

interface Dropped {
  first: number;
  last: number;
}

export class Outbox {
  readonly #maxFrames: number;
  readonly #maxBytes: number;
  readonly #policy: SlowConsumerPolicy;
  #items: Item[] = [];
  #bytes = 0;
  /** Room events discarded by drop-oldest since this outbox was created. */
  dropped = 0;

  constructor(maxFrames: number, maxBytes: number, policy: SlowConsumerPolicy) {
    this.#maxFrames = maxFrames;
    this.#maxBytes = maxBytes;
    this.#policy = policy;
  }

  get frames(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues a frame.
   * @returns false when the queue is over its bound and the policy is `close`
   */
  push(text: string, room?: string, id = 0): boolean {
    this.#items.push({ text, room, id, gap: undefined });
    this.#bytes += text.length;
    if (this.#items.length <= this.#maxFrames && this.#bytes <= this.#maxBytes) return true;
    if (this.#policy === 'close') return false;
    this.#dropOldest();
    return true;
  }

  /** Removes and returns every queued frame text, in order. */
  take(): string[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    const texts = new Array<string>(items.length);
    for (let i = 0; i < items.length; i++) texts[i] = (items[i] as Item).text;
    return texts;
  }

  /** Discards everything queued. */
  clear(): void {
    this.#items = [];
    this.#bytes = 0;
  }

  /** Drops the oldest room events until the queue is at three quarters of its bounds. */
  #dropOldest(): void {
    const frameTarget = Math.floor(this.#maxFrames * 0.75);
    const byteTarget = Math.floor(this.#maxBytes * 0.75);
    const ranges = new Map<string, Dropped>();
    let frames = this.#items.length;
    let bytes = this.#bytes;
    const kept: Item[] = [];
    for (const item of this.#items) {
      const over = frames > frameTarget || bytes > byteTarget;
      if (!over || item.room === undefined) {
        kept.push(item);
        continue;
      }
      frames--;
      bytes -= item.text.length;
      this.dropped++;
      const range = ranges.get(item.room);
      if (range === undefined) ranges.set(item.room, { first: item.id, last: item.id });
      else range.last = item.id;
    }
    this.#items = [...this.#gaps(ranges, kept), ...kept.filter((item) => !isMergedGap(item, ranges))];
    this.#bytes = 0;
    for (const item of this.#items) this.#bytes += item.text.length;
  }

  /** One gap item per room with dropped events, extending an earlier dropped-gap of that room. */
  #gaps(ranges: Map<string, Dropped>, kept: readonly Item[]): Item[] {
    const gaps: Item[] = [];
    for (const [room, range] of ranges) {
      const earlier = kept.find((item) => item.gap !== undefined && item.gap.room === room);
      const since = earlier?.gap !== undefined ? earlier.gap.since : range.first - 1;
      const gap: GapFrame = { type: 'gap', room, since, resumeAt: range.last + 1, reason: 'dropped' };
      gaps.push({ text: JSON.stringify(gap), room: undefined, id: 0, gap });
    }
    return gaps;
  }
}

function isMergedGap(item: Item, ranges: Map<string, Dropped>): boolean {
  return item.gap !== undefined && ranges.has(item.gap.room);
}
