/** Reconnect delays: exponential growth with jitter, capped, optionally limited in attempts. */
export interface BackoffOptions {
  /** Delay before the first reconnect attempt, before jitter. @default 500 */
  initialDelayMs?: number;
  /** Upper bound of any delay. @default 5000 */
  maxDelayMs?: number;
  /** Growth per attempt. @default 2 */
  factor?: number;
  /**
   * Share of each delay that is random, in [0, 1]: the delay is drawn uniformly from
   * `[base * (1 - jitter), base]`, so clients that lost the same server do not return in step.
   * @default 0.5
   */
  jitter?: number;
  /**
   * Consecutive failed attempts after which the client gives up and closes. `Infinity` never gives up.
   * @default Infinity
   */
  maxAttempts?: number;
}

/** {@link BackoffOptions} with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: ResolvedBackoff = {
  initialDelayMs: 500,
  maxDelayMs: 5000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
};

/**
 * The delay before reconnect attempt `attempt` (0 for the first).
 * @param random a number in [0, 1)
 */
export function backoffDelay(attempt: number, options: ResolvedBackoff, random: number): number {
  const growth = Math.pow(options.factor, Math.min(attempt, 64));
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * growth);
  return Math.round(base * (1 - options.jitter * random));
}
