import { config, type Observable } from 'rxjs';

/** Subscribes now and records everything the stream emits. */
export interface Recording<E> {
  readonly events: E[];
  /** Resolves with the events when the stream completes; rejects with its error. */
  readonly done: Promise<E[]>;
}

export function record<E>(stream: Observable<E>): Recording<E> {
  const events: E[] = [];
  const done = new Promise<E[]>((resolve, reject) => {
    stream.subscribe({ next: (e) => events.push(e), complete: () => resolve(events), error: reject });
  });
  return { events, done };
}

/** A fixed clock so that events compare exactly. */
export const T0 = 1_700_000_000_000;
export const clock = (): number => T0;

/** Resolves after `n` macrotask turns (lets the room's loop run without wall-clock sleeps). */
export async function turns(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Call inside a `describe`: while each of its tests runs, what RxJS reports out of band (a
 * subscriber's error, through `config.onUnhandledError`) goes into the returned array.
 */
export function captureUnhandledErrors(): unknown[] {
  const unhandled: unknown[] = [];
  let previous: typeof config.onUnhandledError;
  beforeEach(() => {
    previous = config.onUnhandledError;
    unhandled.length = 0;
    config.onUnhandledError = (error) => unhandled.push(error);
  });
  afterEach(() => {
    config.onUnhandledError = previous;
  });
  return unhandled;
}
