/**
 * The admin view's time series: once a second it reads the server's totals and turns them into
 * rates (events committed and delivered, bytes sent, publishes per second), the publish latency of
 * that second (mean and 99th percentile), and each room's events per second. It keeps the last
 * {@link SERIES_LENGTH} seconds, so a page opened late draws a full chart at once.
 */
import type { Counters } from './metrics.js';
import type { HistogramReading, PrometheusMetrics } from './prometheus.js';

/** Seconds of history kept. */
export const SERIES_LENGTH = 120;

/** One second of the server, as rates over the second before `t`. */
export interface SamplePoint {
  /** Unix time in seconds. */
  readonly t: number;
  readonly committedPerSecond: number;
  readonly deliveredPerSecond: number;
  readonly sentBytesPerSecond: number;
  readonly publishesPerSecond: number;
  /** Milliseconds; null in a second without publishes. */
  readonly publishMeanMs: number | null;
  readonly publishP99Ms: number | null;
}

interface Totals {
  readonly at: number;
  readonly committed: number;
  readonly delivered: number;
  readonly sentBytes: number;
  readonly publish: HistogramReading;
}

export class AdminSampler {
  readonly #metrics: PrometheusMetrics;
  readonly #counters: Counters;
  readonly #points: SamplePoint[] = [];
  /** Events per second of each room in the last second, and its committed count then. */
  readonly #rooms = new Map<string, { committed: number; rate: number }>();
  readonly #timer: NodeJS.Timeout;
  readonly #onError: (error: unknown) => void;
  readonly #clock: () => number;
  #last: Totals | undefined;
  #sampling = false;

  /**
   * @param clock milliseconds, for the rates (tests pass their own)
   */
  constructor(metrics: PrometheusMetrics, counters: Counters, onError: (error: unknown) => void, intervalMs = 1000, clock: () => number = performance.now.bind(performance)) {
    this.#metrics = metrics;
    this.#counters = counters;
    this.#onError = onError;
    this.#clock = clock;
    this.#timer = setInterval(samplerOnTick, intervalMs, this);
    this.#timer.unref();
    samplerOnTick(this);
  }

  /** The points so far, oldest first. */
  get points(): readonly SamplePoint[] {
    return this.#points;
  }

  /** Events per second of `room` over the last second (0 for a room not seen twice yet). */
  roomRate(room: string): number {
    return this.#rooms.get(room)?.rate ?? 0;
  }

  /** Reads the totals and appends a point (the first reading only sets the baseline). */
  async sample(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const now: Totals = {
        at: this.#clock(),
        committed: this.#metrics.committedEvents(),
        delivered: this.#counters.eventsOut,
        sentBytes: this.#counters.bytesOut,
        publish: await this.#metrics.publishLatency(),
      };
      const last = this.#last;
      this.#last = now;
      const seconds = last === undefined ? 0 : (now.at - last.at) / 1000;
      this.#sampleRooms(seconds);
      if (last === undefined || seconds <= 0) return;
      const publishes = now.publish.count - last.publish.count;
      this.#points.push({
        t: Math.round(Date.now() / 1000),
        committedPerSecond: (now.committed - last.committed) / seconds,
        deliveredPerSecond: (now.delivered - last.delivered) / seconds,
        sentBytesPerSecond: (now.sentBytes - last.sentBytes) / seconds,
        publishesPerSecond: publishes / seconds,
        publishMeanMs: publishes > 0 ? ((now.publish.sum - last.publish.sum) / publishes) * 1000 : null,
        publishP99Ms: publishes > 0 ? quantile(0.99, last.publish, now.publish) * 1000 : null,
      });
      if (this.#points.length > SERIES_LENGTH) this.#points.splice(0, this.#points.length - SERIES_LENGTH);
    } finally {
      this.#sampling = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Samples, passing a failure to the server's `onError` (the timer goes on). */
  tick(): void {
    this.sample().catch(this.#onError);
  }

  #sampleRooms(seconds: number): void {
    const seen = new Set<string>();
    for (const { name, stats } of this.#metrics.rooms()) {
      seen.add(name);
      const before = this.#rooms.get(name);
      const committed = stats.committedEvents;
      // A room that closed and opened again starts counting from zero.
      const rate = before === undefined || seconds <= 0 || committed < before.committed ? 0 : (committed - before.committed) / seconds;
      this.#rooms.set(name, { committed, rate });
    }
    for (const name of this.#rooms.keys()) if (!seen.has(name)) this.#rooms.delete(name);
  }
}

function samplerOnTick(sampler: AdminSampler): void {
  sampler.tick();
}

/**
 * The `q` quantile of the observations between two readings of a histogram, interpolated within
 * its bucket as Prometheus' `histogram_quantile` does; the largest finite bound when it falls in `+Inf`.
 */
export function quantile(q: number, before: HistogramReading, after: HistogramReading): number {
  const counts = after.buckets.map(([le, count], i) => [le, count - (before.buckets[i]?.[1] ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total <= 0) return 0;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of counts) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      const inBucket = count - below;
      return inBucket <= 0 ? le : lower + ((le - lower) * (rank - below)) / inBucket;
    }
    lower = le;
    below = count;
  }
  return lower;
}
