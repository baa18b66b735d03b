/** The timer seam: every delay the client waits goes through it, so tests can use virtual time. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds, monotonic enough to measure waits. */
  now(): number;
  /** A number in [0, 1) for backoff jitter. */
  random(): number;
}

/** The longest delay platform timers hold (2^31 - 1 ms, about 24.8 days); they run a longer one after 1 ms. */
const MAX_TIMER_DELAY = 2_147_483_647;

function defaultSetTimeout(callback: () => void, ms: number): unknown {
  // A longer wait (a timeout of Infinity) means as good as never, not at once.
  return globalThis.setTimeout(callback, Math.min(ms, MAX_TIMER_DELAY));
}

function defaultClearTimeout(handle: unknown): void {
  globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
}

/** The platform's timers, `Date.now` and `Math.random`. */
export const systemTimers: Timers = {
  setTimeout: defaultSetTimeout,
  clearTimeout: defaultClearTimeout,
  now: Date.now,
  random: Math.random,
};
