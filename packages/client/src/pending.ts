import type { Timers } from './clock.js';
import { RequestTimeoutError, errorFromWire } from './errors.js';
import type { Ref, ServerFrame } from './protocol.js';

/** The server's answer to a frame that carried a `ref`. */
export type Answer = Extract<ServerFrame, { type: 'ok' } | { type: 'response' }>;

/** When the timeout of an entry starts. */
export type TimeoutFrom = 'open' | 'sent';

interface Entry {
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: Error) => void;
  readonly timeoutMs: number;
  readonly what: string;
  timer: unknown;
  /** The connection the frame was written to; undefined while it waits in the send buffer. */
  sentOn: object | undefined;
  /** Sends the frame again; only for frames the server did not act on when it refused them. */
  readonly resend: (() => void) | undefined;
}

/**
 * Frames waiting for their `ok`, `response` or `error`, keyed by `ref`. Every entry ends exactly
 * once: answered, timed out, or rejected when its connection or the client goes away.
 */
export class PendingRequests {
  readonly #timers: Timers;
  readonly #entries = new Map<Ref, Entry>();
  readonly #onSettled: (() => void) | undefined;
  #nextRef = 1;

  /** @param onSettled called after each entry ends (answered, timed out or rejected) */
  constructor(timers: Timers, onSettled?: () => void) {
    this.#timers = timers;
    this.#onSettled = onSettled;
  }

  /** How many entries wait for their answer. */
  get size(): number {
    return this.#entries.size;
  }

  /** A fresh `ref`, never used before by this client (refs of buffered frames stay unique across connections). */
  nextRef(): number {
    return this.#nextRef++;
  }

  /**
   * Starts waiting for the answer to `ref`; rejects with {@link RequestTimeoutError} `timeoutMs`
   * after `from`: now (`open`), or once the frame is written (`sent`), so that time spent in the
   * send buffer does not count.
   */
  open(ref: Ref, timeoutMs: number, what: string, from: TimeoutFrom = 'open', resend?: () => void): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const entry: Entry = { resolve, reject, timeoutMs, what, timer: undefined, sentOn: undefined, resend };
      this.#entries.set(ref, entry);
      if (from === 'open') this.#arm(ref, entry);
    });
  }

  /** Records that the frame of `ref` was written to `connection`. */
  markSent(ref: Ref, connection: object): void {
    const entry = this.#entries.get(ref);
    if (entry === undefined) return;
    entry.sentOn = connection;
    if (entry.timer === undefined) this.#arm(ref, entry);
  }

  /**
   * Ends the entry the frame answers. Returns false when no entry waits for it. A `RATE_LIMITED`
   * with `retryAfterMs` does not end an entry that can be sent again: the server dropped the frame
   * without acting on it, so it is sent again after that delay, within the entry's timeout.
   */
  settle(frame: ServerFrame): boolean {
    if (frame.type !== 'ok' && frame.type !== 'response' && frame.type !== 'error') return false;
    if (frame.ref === undefined) return false;
    const waiting = this.#entries.get(frame.ref);
    if (frame.type === 'error' && frame.code === 'RATE_LIMITED' && typeof frame.retryAfterMs === 'number' && waiting?.resend !== undefined) {
      this.#timers.setTimeout(() => {
        if (this.#entries.get(frame.ref as Ref) === waiting) waiting.resend?.();
      }, frame.retryAfterMs);
      return true;
    }
    const entry = this.#take(frame.ref);
    if (entry === undefined) return false;
    if (frame.type === 'error') entry.reject(errorFromWire(frame));
    else entry.resolve(frame);
    this.#onSettled?.();
    return true;
  }

  /** Rejects the entry of `ref`, if it still waits. */
  reject(ref: Ref, error: Error): void {
    const entry = this.#take(ref);
    if (entry === undefined) return;
    entry.reject(error);
    this.#onSettled?.();
  }

  /** Rejects every entry whose frame was written to `connection`. */
  rejectSentOn(connection: object, error: Error): void {
    for (const [ref, entry] of [...this.#entries]) {
      if (entry.sentOn === connection) this.reject(ref, error);
    }
  }

  /** Rejects every entry. */
  rejectAll(error: Error): void {
    for (const ref of [...this.#entries.keys()]) this.reject(ref, error);
  }

  #arm(ref: Ref, entry: Entry): void {
    const { timeoutMs, what } = entry;
    entry.timer = this.#timers.setTimeout(() => {
      if (this.#entries.get(ref) !== entry) return;
      this.#entries.delete(ref);
      entry.reject(new RequestTimeoutError(`${what} got no answer within ${timeoutMs} ms`));
      this.#onSettled?.();
    }, timeoutMs);
  }

  #take(ref: Ref): Entry | undefined {
    const entry = this.#entries.get(ref);
    if (entry === undefined) return undefined;
    this.#entries.delete(ref);
    if (entry.timer !== undefined) this.#timers.clearTimeout(entry.timer);
    return entry;
  }
}
