import { InvalidArgumentError, type DiscardReason } from './errors.js';
import { describe } from './options.js';
import type { ClientFrame } from './protocol.js';

/** What a caller hands `publish` or `direct` to learn that its frame was dropped unsent. */
export type DiscardCallback = (reason: DiscardReason) => void;

/**
 * The `onDiscard` of the options of a `publish` or `direct`.
 * @throws InvalidArgumentError for options that are not an object, or a callback that is not a function
 */
export function discardCallbackOf(options: { readonly onDiscard?: unknown }): DiscardCallback | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`Expected options to be an object, got ${describe(options)}`);
  }
  const { onDiscard } = options;
  if (onDiscard !== undefined && typeof onDiscard !== 'function') {
    throw new InvalidArgumentError(`Expected options.onDiscard to be a function, got ${describe(onDiscard)}`);
  }
  return onDiscard as DiscardCallback | undefined;
}

/**
 * The per-call `onDiscard` callbacks of frames not yet written. A frame leaves the send buffer
 * either written or discarded, never both, so a callback runs at most once and only for a frame
 * that never went out; the entry of a written frame goes with the frame (a weak map).
 */
export class DiscardCallbacks {
  readonly #callbacks = new WeakMap<ClientFrame, DiscardCallback>();
  readonly #report: (error: unknown) => void;

  /** @param report gets what a callback throws (the send buffer goes on) */
  constructor(report: (error: unknown) => void) {
    this.#report = report;
  }

  /** Remembers `callback` for `frame`. */
  set(frame: ClientFrame, callback: DiscardCallback): void {
    this.#callbacks.set(frame, callback);
  }

  /** Runs and forgets the callback of `frame`, if it has one. */
  discarded(frame: ClientFrame, reason: DiscardReason): void {
    const callback = this.#callbacks.get(frame);
    if (callback === undefined) return;
    this.#callbacks.delete(frame);
    try {
      callback(reason);
    } catch (error) {
      this.#report(error);
    }
  }
}

/** What a callback threw goes out of band, as RxJS reports an error no subscriber handles. */
export function reportLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}
