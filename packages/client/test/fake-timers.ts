import type { Timers } from '../src/clock.js';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** Virtual time for the client's timer seam: nothing runs until `advance`. */
export class FakeTimers implements Timers {
  #now = 0;
  #seq = 0;
  #scheduled = new Map<number, Scheduled>();
  /** What `random()` returns. */
  randomValue = 0;

  get pending(): number {
    return this.#scheduled.size;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const seq = ++this.#seq;
    this.#scheduled.set(seq, { at: this.#now + ms, seq, callback });
    return seq;
  }

  clearTimeout(handle: unknown): void {
    this.#scheduled.delete(handle as number);
  }

  now(): number {
    return this.#now;
  }

  random(): number {
    return this.randomValue;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in due order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: Scheduled | undefined;
      for (const entry of this.#scheduled.values()) {
        if (entry.at <= end && (next === undefined || entry.at < next.at || (entry.at === next.at && entry.seq < next.seq))) {
          next = entry;
        }
      }
      if (next === undefined) break;
      this.#scheduled.delete(next.seq);
      this.#now = next.at;
      next.callback();
    }
    this.#now = end;
  }
}
