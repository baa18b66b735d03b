/** The timer seam: every delay the client waits goes through it, so tests can use virtual time. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds, monotonic enough to measure waits. */
  now(): number;
  /** A number in [0, 1) for backoff jitter. */
  random(): number;
}

function defaultSetTimeout(callback: () => void, ms: number): unknown {
  return globalThis.setTimeout(callback, ms);
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
