/**
 * Whether the platform says it is offline, and a way to wait until it says it is online again:
 * `navigator.onLine` and the `online` event in browsers. Where neither exists (Node) the platform
 * never counts as offline.
 */

/** The part of the browser's global scope this module reads. */
interface OnlineScope {
  readonly navigator?: { readonly onLine?: unknown };
  addEventListener?(type: 'online', listener: () => void): void;
  removeEventListener?(type: 'online', listener: () => void): void;
}

/**
 * Calls `callback` once the platform is online again, when it says it is offline now.
 * @returns a function that stops waiting, or undefined when the platform is not offline (or cannot
 *   tell, or cannot announce its return): then `callback` is never called
 */
export function whenOnline(callback: () => void): (() => void) | undefined {
  const scope = globalThis as OnlineScope;
  if (scope.navigator?.onLine !== false) return undefined;
  const { addEventListener, removeEventListener } = scope;
  if (typeof addEventListener !== 'function' || typeof removeEventListener !== 'function') return undefined;
  const listener = (): void => {
    removeEventListener.call(scope, 'online', listener);
    callback();
  };
  addEventListener.call(scope, 'online', listener);
  return () => removeEventListener.call(scope, 'online', listener);
}

/** One wait for the platform to be online again, cancelled by starting another or by {@link cancel}. */
export class OnlineWait {
  #stop: (() => void) | undefined;

  /**
   * While the platform says it is offline: calls `callback` once it is online again.
   * @returns whether it waits (false: online, or the platform cannot tell; `callback` is not called)
   */
  start(callback: () => void): boolean {
    this.cancel();
    this.#stop = whenOnline(() => {
      this.#stop = undefined;
      callback();
    });
    return this.#stop !== undefined;
  }

  /** Stops waiting. */
  cancel(): void {
    this.#stop?.();
    this.#stop = undefined;
  }
}
