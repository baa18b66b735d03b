import type { HubEvent } from './event.js';

/**
 * Something that consumes every event of a room, in order, exactly once (`close` included).
 * `next` may return a promise: the hub then holds later events for this listener until it
 * settles, up to `listenerBufferSize`; past that the room waits. `complete` runs after the last
 * event (on close or detach) and may return a promise the hub awaits before `close()` resolves.
 */
export interface HubListener<T = string> {
  next(event: HubEvent<T>): void | PromiseLike<void>;
  complete?(): void | PromiseLike<void>;
}

/** A listener given as a plain function of the event. */
export type HubListenerFunction<T = string> = (event: HubEvent<T>) => void | PromiseLike<void>;

function isThenable(value: unknown): value is PromiseLike<void> {
  return (
    value !== undefined &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The hub's side of one attached listener: a bounded buffer and a pump that calls the listener
 * one event at a time, waiting for each returned promise. Errors are passed to `report` and the
 * pump goes on, so a throwing listener never stops the room or the other listeners.
 */
export class ListenerSlot<T> {
  readonly #listener: HubListener<T>;
  readonly #capacity: number;
  readonly #report: (error: unknown) => void;
  #buffer: HubEvent<T>[] = [];
  #head = 0;
  #busy = false;
  #waiters: (() => void)[] = [];
  readonly #settled = (): void => {
    this.#busy = false;
    this.#pump();
  };
  readonly #rejected = (error: unknown): void => {
    this.#report(error);
    this.#settled();
  };

  constructor(listener: HubListener<T>, capacity: number, report: (error: unknown) => void) {
    this.#listener = listener;
    this.#capacity = capacity;
    this.#report = report;
  }

  /** Events held while the listener is busy. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  /** Whether the buffer is at capacity (the hub must wait on `whenRoom()` before pushing more). */
  get full(): boolean {
    return this.#buffer.length - this.#head >= this.#capacity;
  }

  /** Delivers `event` now, or buffers it while the previous call is pending. */
  push(event: HubEvent<T>): void {
    if (this.#busy) this.#buffer.push(event);
    else this.#call(event);
  }

  /** Resolves once the buffer has room again. */
  whenRoom(): Promise<void> {
    return this.#when(() => !this.full);
  }

  /** Resolves once every pushed event has been handled. */
  whenIdle(): Promise<void> {
    return this.#when(() => !this.#busy && this.buffered === 0);
  }

  /** Waits until idle, then runs the listener's `complete`. Never rejects. */
  async finish(): Promise<void> {
    await this.whenIdle();
    try {
      await this.#listener.complete?.();
    } catch (error) {
      this.#report(error);
    }
  }

  #call(event: HubEvent<T>): void {
    let result: unknown;
    try {
      result = this.#listener.next(event);
    } catch (error) {
      this.#report(error);
      return;
    }
    if (isThenable(result)) {
      this.#busy = true;
      try {
        result.then(this.#settled, this.#rejected);
      } catch (error) {
        // A thenable whose `then` throws would otherwise leave the slot busy forever. The caller
        // (push or the pump loop) goes on with the next event.
        this.#busy = false;
        this.#report(error);
      }
    }
  }

  #pump(): void {
    const buffer = this.#buffer;
    while (!this.#busy && this.#head < buffer.length) {
      const event = buffer[this.#head] as HubEvent<T>;
      buffer[this.#head++] = undefined as unknown as HubEvent<T>;
      this.#call(event);
    }
    if (this.#head === buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    } else if (this.#head >= this.#capacity && this.#head * 2 >= buffer.length) {
      // Keep the array's length bounded by about twice the capacity.
      buffer.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  #when(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (ready()) resolve();
        else this.#waiters.push(check);
      };
      this.#waiters.push(check);
    });
  }
}
