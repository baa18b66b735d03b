import { config, Observable, Subscriber, Subscription, type Observer } from 'rxjs';
import type { SessionEvent } from './event.js';

const OPEN = 0;
const COMPLETE = 1;
const FAILED = 2;

type Next<T> = (value: T) => void;

/**
 * A subscriber of a session stream. `subscriber` is the RxJS Subscriber that `subscribe()` made
 * and returned: it owns the subscription's state (closed, teardown) and carries `error` and
 * `complete`. When the caller gave a function or a plain observer, `fn` or `observer` is what the
 * session hands each event to directly (as RxJS's own subscriber would, without its three calls);
 * when it gave a Subscriber (an operator's, `firstValueFrom`'s), both are undefined and events go
 * through `subscriber.next`.
 */
class Sink<T> {
  readonly subscriber: Subscriber<T>;
  readonly fn: Next<T> | undefined;
  readonly observer: Partial<Observer<T>> | undefined;

  constructor(subscriber: Subscriber<T>, given: Next<T> | Partial<Observer<T>> | undefined) {
    this.subscriber = subscriber;
    this.fn = typeof given === 'function' ? given : undefined;
    this.observer = typeof given === 'object' ? given : undefined;
  }
}

/** What the session stream's `subscribe` was given, handed to the session's subscribe function. */
let given: Next<unknown> | Partial<Observer<unknown>> | undefined;

/**
 * The session's stream: an RxJS Observable whose `subscribe` notes the function or observer it
 * is given (not an operator's Subscriber), so that the session can call it directly.
 */
class SessionStream<T> extends Observable<SessionEvent<T>> {
  override subscribe(
    observerOrNext?: Partial<Observer<SessionEvent<T>>> | ((value: SessionEvent<T>) => void) | null,
    error?: ((error: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    given = direct(observerOrNext) as typeof given;
    try {
      if (error === undefined && complete === undefined) return super.subscribe(observerOrNext as Partial<Observer<SessionEvent<T>>>);
      return super.subscribe(observerOrNext as ((value: SessionEvent<T>) => void) | null | undefined, error, complete);
    } finally {
      given = undefined;
    }
  }
}

/** The function or observer to call directly, or undefined where RxJS's own path must run. */
function direct<T>(value: Partial<Observer<T>> | Next<T> | null | undefined): Partial<Observer<T>> | Next<T> | undefined {
  if (value === null || value === undefined) return undefined;
  // The deprecated modes change how RxJS calls the handler: leave those to it.
  if (config.useDeprecatedNextContext || config.useDeprecatedSynchronousErrorHandling) return undefined;
  if (typeof value === 'function') return value;
  if (typeof value !== 'object' || value instanceof Subscriber || value instanceof Subscription) return undefined;
  return value;
}

/** Hands `event` to one sink. A throwing handler is reported out of band, as RxJS reports it. */
function hand<T>(sink: Sink<T>, event: T): void {
  const { fn, observer } = sink;
  if (fn === undefined && observer === undefined) {
    sink.subscriber.next(event);
    return;
  }
  if (sink.subscriber.closed) return;
  try {
    if (fn !== undefined) fn(event);
    else observer?.next?.(event);
  } catch (error) {
    setTimeout(reportUnhandled, 0, error);
  }
}

function reportUnhandled(error: unknown): void {
  const { onUnhandledError } = config;
  if (onUnhandledError) onUnhandledError(error);
  else throw error;
}

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
  #sinks: Sink<SessionEvent<T>>[] = [];
  #state: typeof OPEN | typeof COMPLETE | typeof FAILED = OPEN;
  #error: unknown;

  constructor(userId: string, sessionId: string, limit: number) {
    this.userId = userId;
    this.sessionId = sessionId;
    this.#limit = limit;
    this.stream = new SessionStream<T>((subscriber) => this.#subscribe(subscriber));
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
    const sinks = this.#sinks;
    if (sinks.length === 1) {
      hand(sinks[0] as Sink<SessionEvent<T>>, event);
      return true;
    }
    if (sinks.length === 0) {
      this.#buffer.push(event);
      return this.#buffer.length - this.#bufferHead <= this.#limit;
    }
    for (let i = 0; i < sinks.length; i++) hand(sinks[i] as Sink<SessionEvent<T>>, event);
    return true;
  }

  complete(): void {
    if (this.#state !== OPEN) return;
    this.#state = COMPLETE;
    for (const sink of this.#sinks) sink.subscriber.complete();
    this.#sinks = [];
  }

  fail(error: unknown): void {
    if (this.#state !== OPEN) return;
    this.#state = FAILED;
    this.#error = error;
    for (const sink of this.#sinks) sink.subscriber.error(error);
    this.#sinks = [];
  }

  #subscribe(subscriber: Subscriber<SessionEvent<T>>): () => void {
    const sink = new Sink(subscriber, given as Next<SessionEvent<T>> | Partial<Observer<SessionEvent<T>>> | undefined);
    given = undefined;
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
    this.#sinks = [...this.#sinks, sink];
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }
}

function noop(): void {}
