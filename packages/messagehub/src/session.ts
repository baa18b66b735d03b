import { Observable, type Subscriber } from 'rxjs';
import type { SessionEvent } from './event.js';

const OPEN = 0;
const COMPLETE = 1;
const FAILED = 2;

/**
 * One session's end of the room: the hub pushes events in, subscribers read them out.
 *
 * The stream is hot, but while it has no subscriber it keeps what arrives (up to `limit`), so
 * whoever subscribes next misses nothing: a caller that subscribes a few ticks after `add()`
 * still sees its own `join`. Subscribers that arrive while others are listening see events from
 * then on. The hub is the only writer; it calls `deliver`, `complete` and `fail` from its drain loop.
 */
export class Session<T> {
  readonly userId: string;
  readonly sessionId: string;
  readonly stream: Observable<SessionEvent<T>>;
  readonly #limit: number;
  #buffer: SessionEvent<T>[] = [];
  #bufferHead = 0;
  /** Replaced, never mutated, so a delivery loop over the old array is safe. */
  #subscribers: Subscriber<SessionEvent<T>>[] = [];
  #state: typeof OPEN | typeof COMPLETE | typeof FAILED = OPEN;
  #error: unknown;

  constructor(userId: string, sessionId: string, limit: number) {
    this.userId = userId;
    this.sessionId = sessionId;
    this.#limit = limit;
    this.stream = new Observable<SessionEvent<T>>((subscriber) => this.#subscribe(subscriber));
  }

  /** Whether the stream has ended (completed or failed). */
  get ended(): boolean {
    return this.#state !== OPEN;
  }

  /** Events kept for the next subscriber. */
  get buffered(): number {
    return this.#buffer.length - this.#bufferHead;
  }

  /**
   * Hands `event` to the subscribers, or keeps it when there are none.
   * @returns false when the keep-buffer overflowed (the hub then removes the session)
   */
  deliver(event: SessionEvent<T>): boolean {
    if (this.#state !== OPEN) return true;
    const subscribers = this.#subscribers;
    if (subscribers.length === 1) {
      (subscribers[0] as Subscriber<SessionEvent<T>>).next(event);
      return true;
    }
    if (subscribers.length === 0) {
      this.#buffer.push(event);
      return this.#buffer.length - this.#bufferHead <= this.#limit;
    }
    for (let i = 0; i < subscribers.length; i++) (subscribers[i] as Subscriber<SessionEvent<T>>).next(event);
    return true;
  }

  complete(): void {
    if (this.#state !== OPEN) return;
    this.#state = COMPLETE;
    for (const subscriber of this.#subscribers) subscriber.complete();
    this.#subscribers = [];
  }

  fail(error: unknown): void {
    if (this.#state !== OPEN) return;
    this.#state = FAILED;
    this.#error = error;
    for (const subscriber of this.#subscribers) subscriber.error(error);
    this.#subscribers = [];
  }

  #subscribe(subscriber: Subscriber<SessionEvent<T>>): () => void {
    // Replay what was kept; a subscriber that stops early (take(1)) leaves the rest for the next.
    const buffer = this.#buffer;
    while (this.#bufferHead < buffer.length && !subscriber.closed) {
      const event = buffer[this.#bufferHead] as SessionEvent<T>;
      buffer[this.#bufferHead++] = undefined as unknown as SessionEvent<T>;
      subscriber.next(event);
    }
    if (this.#bufferHead === buffer.length) {
      this.#buffer = [];
      this.#bufferHead = 0;
    }
    if (subscriber.closed) return noop;
    if (this.#state === COMPLETE) {
      subscriber.complete();
      return noop;
    }
    if (this.#state === FAILED) {
      subscriber.error(this.#error);
      return noop;
    }
    this.#subscribers = [...this.#subscribers, subscriber];
    return () => {
      this.#subscribers = this.#subscribers.filter((s) => s !== subscriber);
    };
  }
}

function noop(): void {}
