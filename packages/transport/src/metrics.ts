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
}

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
    };
  }
}
