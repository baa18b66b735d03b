/** Server counters. One mutable instance per server; {@link HubServer.metrics} hands out copies. */

/** A snapshot of a server's counters and gauges. */
export interface MetricsSnapshot {
  /** Open connections (authenticated or not). */
  readonly connections: number;
  /** Connections past `welcome`. */
  readonly authenticated: number;
  /** Open rooms. */
  readonly rooms: number;
  readonly framesIn: number;
  readonly framesOut: number;
  /** Bytes of frame text received (UTF-16 units; the byte count for ASCII). */
  readonly bytesIn: number;
  /** Bytes of frame text written. */
  readonly bytesOut: number;
  /** `error` frames sent. */
  readonly errorsSent: number;
  /** Connections closed with `SLOW_CONSUMER`. */
  readonly slowConsumerCloses: number;
  /** Room events discarded by the `drop-oldest` policy. */
  readonly droppedEvents: number;
  /** Rejected `hello`s and auth timeouts. */
  readonly authFailures: number;
  /** Connections closed for a missing pong or idleness. */
  readonly heartbeatCloses: number;
  /** Frames refused with `RATE_LIMITED`. */
  readonly rateLimited: number;
  /** User-to-user direct messages queued while their recipient had no connection. */
  readonly offlineQueued: number;
  /** Browser connections refused for their `Origin` (HTTP 403, `allowedOrigins`). */
  readonly originRefusals: number;
}

/** How a server request to a client settled. */
export type ServerRequestResult = 'ok' | 'error' | 'timeout' | 'disconnected';

/**
 * The counters behind {@link MetricsSnapshot} and the Prometheus metrics. Each is a plain field
 * bumped where it happens (one increment on the hot paths); everything else is read at scrape time.
 */
export class Counters {
  framesIn = 0;
  framesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  errorsSent = 0;
  slowConsumerCloses = 0;
  droppedEvents = 0;
  authFailures = 0;
  heartbeatCloses = 0;
  rateLimited = 0;
  offlineQueued = 0;
  /** `AUTH_TIMEOUT`s among {@link authFailures}; the rest are `AUTH_FAILED`. */
  authTimeouts = 0;
  /** Room events written to sockets (one per event per connection). */
  eventsOut = 0;
  /** `gap` frames sent, by reason (`trimmed`, `reset` from the room; `dropped` by drop-oldest). */
  readonly gaps: Record<string, number> = { trimmed: 0, reset: 0, dropped: 0 };
  /** Browser requests refused for their `Origin`, by carrier. */
  readonly originRefused = new Map<string, number>();
  /** Connections accepted, by carrier. */
  readonly opened = new Map<string, number>();
  /** Connections gone, by the code they were closed with. */
  readonly disconnects = new Map<string, number>();
  /** Streaming requests started (`request` with `stream: true` that got a slot). */
  streamsOpened = 0;
  /** Stream items sent (`response` frames with `more`). */
  streamItems = 0;
  /** Streams finished, by how: `end` (the handler's iterable finished), `cancelled` (the client's `cancel`, or the connection ended), `error`. */
  readonly streamsEnded = new Map<string, number>([['end', 0], ['cancelled', 0], ['error', 0]]);
  /** Server requests to clients (`connection.request`), by how they settled: `ok`, `error` (the client answered one, or the data could not be encoded), `timeout`, `disconnected`. */
  readonly serverRequests = new Map<string, number>([['ok', 0], ['error', 0], ['timeout', 0], ['disconnected', 0]]);
  /**
   * Set while metrics are on: receives the seconds from handing a publish to its room until
   * it is committed (when its `ok` goes out).
   * Undefined otherwise, so a server without metrics does not read the clock per publish.
   */
  publishObserver: ((seconds: number) => void) | undefined = undefined;
  /** Set while metrics are on: receives how each server request settled and the seconds it took. */
  serverRequestObserver: ((result: ServerRequestResult, seconds: number) => void) | undefined = undefined;

  snapshot(connections: number, authenticated: number, rooms: number): MetricsSnapshot {
    return {
      connections,
      authenticated,
      rooms,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      errorsSent: this.errorsSent,
      slowConsumerCloses: this.slowConsumerCloses,
      droppedEvents: this.droppedEvents,
      authFailures: this.authFailures,
      heartbeatCloses: this.heartbeatCloses,
      rateLimited: this.rateLimited,
      offlineQueued: this.offlineQueued,
      originRefusals: sum(this.originRefused),
    };
  }
}

function sum(map: ReadonlyMap<string, number>): number {
  let total = 0;
  for (const count of map.values()) total += count;
  return total;
}

/** Adds one to `key` of a counter map. */
export function countIn(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
