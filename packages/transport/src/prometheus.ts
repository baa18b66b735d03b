/**
 * The server's Prometheus metrics (docs/operations.md lists them): one prom-client `Registry` per
 * server, so two servers in a process never share or clash. Almost everything is read at scrape
 * time from the server's counters, connections and rooms; the hot paths only bump plain counters.
 * What has to be measured as it happens is timed once per room batch (store commits), once per
 * publish (its commit latency) and once per RPC request.
 *
 * prom-client is loaded on first use, so a server without metrics does not pay for loading it.
 */
import { createRequire } from 'node:module';
import type { HubEvent, HubStats, MessageHub } from '@msghub/messagehub';
import type * as PromClient from 'prom-client';
import type { Connection } from './connection.js';
import { checkToken } from './http-auth.js';
import type { Counters, ServerRequestResult } from './metrics.js';
import type { RequestContext, RequestHandler } from './options.js';
import type { RoomRegistry } from './rooms.js';

type Prom = typeof PromClient;
type Labels = Record<string, string>;

let loaded: Prom | undefined;

/** prom-client, loaded on first use (it is CommonJS, so `require` loads it synchronously). */
function promClient(): Prom {
  return (loaded ??= createRequire(import.meta.url)('prom-client') as Prom);
}

let processRegistry: PromClient.Registry | undefined;

/** prom-client's default metrics of this process, registered once however many servers scrape them. */
function processMetrics(): PromClient.Registry {
  if (processRegistry === undefined) {
    const prom = promClient();
    processRegistry = new prom.Registry();
    prom.collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** `metrics: { ... }` of {@link HubServerOptions}. */
export interface MetricsOptions {
  /**
   * Requests to `/metrics` must carry `Authorization: Bearer <token>` (at least 16 characters).
   * Required when the server listens beyond the loopback interface. @default none
   */
  token?: string;
  /** Per-room series (labelled `room`) for this many rooms, those with the most sessions; 0 = none. @default 0 */
  perRoom?: number;
  /** Include prom-client's Node.js process metrics (`process_*`, `nodejs_*`). @default true */
  process?: boolean;
}

/** `true` (defaults), `false` (off), or the options. */
export type MetricsOption = boolean | MetricsOptions;

export interface ResolvedMetrics {
  readonly token: string | undefined;
  readonly perRoom: number;
  readonly process: boolean;
}

/** Most rooms `perRoom` may ask for: each adds a handful of series. */
export const MAX_PER_ROOM = 1000;

/** Validates the `metrics` option. @returns false when off */
export function resolveMetrics(value: unknown): ResolvedMetrics | false {
  if (value === undefined || value === false) return false;
  if (value === true) return { token: undefined, perRoom: 0, process: true };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`metrics\` to be a boolean or an object, got ${value === null ? 'null' : typeof value}`);
  }
  const { token, perRoom = 0, process = true } = value as { token?: unknown; perRoom?: unknown; process?: unknown };
  if (typeof perRoom !== 'number' || !Number.isSafeInteger(perRoom) || perRoom < 0 || perRoom > MAX_PER_ROOM) {
    throw new TypeError(`Expected \`metrics.perRoom\` to be an integer from 0 to ${MAX_PER_ROOM}, got ${String(perRoom)}`);
  }
  if (typeof process !== 'boolean') throw new TypeError(`Expected \`metrics.process\` to be a boolean, got ${typeof process}`);
  return { token: token === undefined ? undefined : checkToken('metrics.token', token), perRoom, process };
}

/** The server state the metrics read. */
export interface MetricsSource {
  readonly counters: Counters;
  readonly connections: ReadonlySet<Connection>;
  /** User id → that user's authenticated connections. */
  readonly users: ReadonlyMap<string, readonly Connection[]>;
  rooms(): RoomRegistry;
}

/** A room and its stats, as one scrape saw them. */
export interface RoomSample {
  readonly name: string;
  readonly hub: MessageHub<unknown>;
  readonly stats: HubStats;
}

/** What one pass over the connections and rooms found. */
interface Scan {
  readonly connections: Map<string, number>;
  queuedFrames: number;
  queuedBytes: number;
  longestQueue: number;
  sessions: number;
  mailbox: number;
  parked: number;
  listenerBuffered: number;
  streams: number;
  awaiting: number;
  readonly rooms: RoomSample[];
}

/** Commit latencies: from tens of microseconds (memory) to seconds (a disk that stalls). */
const COMMIT_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Publish and request latencies. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The event types a room commits, in a fixed order so every type has a series from the start. */
const EVENT_TYPES = ['message', 'join', 'add', 'remove', 'leave', 'close'] as const;

export class PrometheusMetrics {
  readonly #registry: PromClient.Registry;
  readonly #source: MetricsSource;
  readonly #options: ResolvedMetrics;
  readonly #publish: PromClient.Histogram;
  readonly #commit: PromClient.Histogram;
  readonly #requests: PromClient.Histogram<'op' | 'result'>;
  readonly #serverRequests: PromClient.Histogram<'result'>;
  #commits = 0;
  readonly #committed = new Map<string, number>(EVENT_TYPES.map((type) => [type, 0]));
  #scan: Scan | undefined;

  constructor(source: MetricsSource, options: ResolvedMetrics) {
    const prom = promClient();
    this.#source = source;
    this.#options = options;
    const registry = (this.#registry = new prom.Registry());
    const { counters } = source;
    const scan = (): Scan => (this.#scan ??= this.#take());
    const registers = [registry];

    const gauge = (name: string, help: string, read: (scan: Scan) => number): void => {
      new prom.Gauge({ name, help, registers, collect() { this.set(read(scan())); } });
    };
    const counter = (name: string, help: string, read: () => number): void => {
      new prom.Counter({ name, help, registers, collect() { setCounter(this, {}, read()); } });
    };
    const byLabel = (name: string, help: string, label: string, read: () => Iterable<[string, number]>): void => {
      new prom.Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          for (const [value, count] of read()) setCounter(this, { [label]: value }, count);
        },
      });
    };

    new prom.Gauge({
      name: 'msghub_connections',
      help: 'Open connections (authenticated or not), by carrier.',
      labelNames: ['carrier'],
      registers,
      collect() {
        const { connections } = scan();
        for (const carrier of counters.opened.keys()) this.set({ carrier }, connections.get(carrier) ?? 0);
      },
    });
    gauge('msghub_users_online', 'Users with at least one authenticated connection.', () => source.users.size);
    gauge('msghub_rooms', 'Open rooms.', () => source.rooms().size);
    gauge('msghub_sessions', 'Sessions in open rooms (one per connection per room joined).', (s) => s.sessions);
    gauge('msghub_outbox_frames', 'Frames waiting in the outgoing queues of all connections.', (s) => s.queuedFrames);
    gauge('msghub_outbox_bytes', 'Bytes waiting in the outgoing queues of all connections.', (s) => s.queuedBytes);
    gauge('msghub_outbox_longest_frames', 'Frames waiting in the longest outgoing queue.', (s) => s.longestQueue);
    gauge('msghub_mailbox_commands', 'Commands waiting in the mailboxes of all rooms.', (s) => s.mailbox);
    gauge('msghub_mailbox_parked_commands', 'Commands waiting for space in a full room mailbox (their senders wait).', (s) => s.parked);
    gauge('msghub_listener_buffered_events', 'Events committed but not yet handled by room listeners such as the event log (its lag).', (s) => s.listenerBuffered);

    byLabel('msghub_connections_opened_total', 'Connections accepted, by carrier.', 'carrier', () => counters.opened);
    byLabel('msghub_disconnects_total', 'Connections closed, by the code they were closed with (CLOSED: the peer left).', 'code', () => counters.disconnects);
    byLabel('msghub_auth_failures_total', 'Connections refused at hello (AUTH_FAILED) or that did not finish it in time (AUTH_TIMEOUT).', 'code', () => [
      ['AUTH_FAILED', counters.authFailures - counters.authTimeouts],
      ['AUTH_TIMEOUT', counters.authTimeouts],
    ]);
    byLabel('msghub_origin_refusals_total', 'Browser requests refused with 403 because their Origin is not in allowedOrigins, by carrier.', 'carrier', () => counters.originRefused);
    counter('msghub_frames_received_total', 'Frames received from clients.', () => counters.framesIn);
    counter('msghub_frames_sent_total', 'Frames written to clients.', () => counters.framesOut);
    counter('msghub_received_bytes_total', 'Bytes of frames received (frame text; UTF-16 units for non-ASCII text).', () => counters.bytesIn);
    counter('msghub_sent_bytes_total', 'Bytes of frames written (frame text; UTF-16 units for non-ASCII text).', () => counters.bytesOut);
    counter('msghub_events_delivered_total', 'Room events written to connections (one per event per connection).', () => counters.eventsOut);
    counter('msghub_events_dropped_total', 'Room events discarded for slow connections by the drop-oldest policy.', () => counters.droppedEvents);
    byLabel('msghub_gaps_total', 'Gap notices sent, by reason (trimmed, reset: on resume; dropped: drop-oldest).', 'reason', () => Object.entries(counters.gaps));
    counter('msghub_slow_consumer_closes_total', 'Connections closed with SLOW_CONSUMER (outgoing queue full, or no write accepted in writeTimeoutMs).', () => counters.slowConsumerCloses);
    counter('msghub_errors_sent_total', 'error frames sent to clients.', () => counters.errorsSent);
    counter('msghub_rate_limited_frames_total', 'Frames refused with RATE_LIMITED.', () => counters.rateLimited);
    counter('msghub_offline_queued_total', 'Direct messages put in the offline queue for a user with no connection.', () => counters.offlineQueued);
    counter('msghub_streams_opened_total', 'Streaming requests started (client.stream).', () => counters.streamsOpened);
    counter('msghub_stream_items_total', 'Stream items sent to clients.', () => counters.streamItems);
    byLabel('msghub_streams_ended_total', 'Streams finished, by result (end, cancelled: by the client or the connection ending, error).', 'result', () => counters.streamsEnded);
    gauge('msghub_streams_active', 'Streams running now.', (s) => s.streams);
    byLabel('msghub_server_requests_total', 'Requests the server sent to clients (connection.request), by result (ok, error, timeout, disconnected).', 'result', () => counters.serverRequests);
    gauge('msghub_server_requests_awaiting', 'Requests sent to clients and not answered yet.', (s) => s.awaiting);
    counter('msghub_store_commits_total', 'Batches committed to the room store (one append per drained mailbox batch).', () => this.#commits);
    byLabel('msghub_events_committed_total', 'Room events committed (given their id), by type; type="message" counts publishes.', 'type', () => this.#committed);

    this.#commit = new prom.Histogram({
      name: 'msghub_store_commit_duration_seconds',
      help: 'Time the room store took to commit one batch.',
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.#publish = new prom.Histogram({
      name: 'msghub_publish_duration_seconds',
      help: 'Time from handing a publish to its room until it was committed and fanned out (when the publisher gets ok).',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#requests = new prom.Histogram({
      name: 'msghub_request_duration_seconds',
      help: 'Time an RPC handler took, by op and result (ok, error).',
      labelNames: ['op', 'result'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#serverRequests = new prom.Histogram({
      name: 'msghub_server_request_duration_seconds',
      help: 'Time from sending a request to a client until it settled, by result (ok, error, timeout, disconnected).',
      labelNames: ['result'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    if (options.perRoom > 0) this.#registerPerRoom(prom, registers, scan);
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The exposition text: a fresh pass over connections and rooms, then every metric. */
  async text(): Promise<string> {
    this.#scan = undefined;
    try {
      const own = await this.#registry.metrics();
      return this.#options.process ? `${own}\n${await processMetrics().metrics()}` : own;
    } finally {
      this.#scan = undefined;
    }
  }

  /** Receives every committed batch (see `RoomRegistryOptions.onCommit`). */
  readonly observeCommit = (_room: string, events: readonly HubEvent<unknown>[], seconds: number): void => {
    this.#commits++;
    const committed = this.#committed;
    for (let i = 0; i < events.length; i++) {
      const type = (events[i] as HubEvent<unknown>).type;
      committed.set(type, (committed.get(type) ?? 0) + 1);
    }
    this.#commit.observe(seconds);
  };

  /** Receives how every server request settled and how long it took. */
  readonly observeServerRequest = (result: ServerRequestResult, seconds: number): void => {
    this.#serverRequests.observe({ result }, seconds);
  };

  /** Receives the commit latency of every publish. */
  readonly observePublish = (seconds: number): void => {
    this.#publish.observe(seconds);
  };

  /** Events committed so far, all types. */
  committedEvents(): number {
    let total = 0;
    for (const count of this.#committed.values()) total += count;
    return total;
  }

  /** The publish latency histogram's count, sum and cumulative buckets (`le` → count). */
  async publishLatency(): Promise<HistogramReading> {
    return readHistogram(await this.#publish.get());
  }

  /** Wraps an RPC handler so each call is timed under its op. */
  timed(op: string, handler: RequestHandler): RequestHandler {
    const histogram = this.#requests;
    return (input: unknown, context: RequestContext): unknown => {
      const started = performance.now();
      const done = (result: 'ok' | 'error'): void => histogram.observe({ op, result }, (performance.now() - started) / 1000);
      let output: unknown;
      try {
        output = handler(input, context);
      } catch (error) {
        done('error');
        throw error;
      }
      if (!isPromiseLike(output)) {
        done('ok');
        return output;
      }
      return Promise.resolve(output).then(
        (value) => {
          done('ok');
          return value;
        },
        (error: unknown) => {
          done('error');
          throw error;
        },
      );
    };
  }

  /** The open rooms with their stats, as of the current scrape (or now). */
  rooms(): readonly RoomSample[] {
    return (this.#scan ?? this.#take()).rooms;
  }

  #registerPerRoom(prom: Prom, registers: PromClient.Registry[], scan: () => Scan): void {
    const top = (): RoomSample[] => topRooms(scan().rooms, this.#options.perRoom);
    const labelNames = ['room'] as const;
    const gauge = (name: string, help: string, read: (stats: HubStats) => number): void => {
      new prom.Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const { name: room, stats } of top()) this.set({ room }, read(stats));
        },
      });
    };
    gauge('msghub_room_sessions', 'Sessions in the room (the rooms with the most sessions only).', (s) => s.sessions);
    gauge('msghub_room_users', 'Users in the room (the rooms with the most sessions only).', (s) => s.users);
    gauge('msghub_room_mailbox_commands', 'Commands waiting in the room mailbox (the rooms with the most sessions only).', (s) => s.mailbox);
    new prom.Counter({
      name: 'msghub_room_events_committed_total',
      help: 'Events the room committed since it opened (the rooms with the most sessions only).',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const { name: room, stats } of top()) this.inc({ room }, stats.committedEvents);
      },
    });
  }

  /** One pass over every connection and room. */
  #take(): Scan {
    const scan: Scan = {
      connections: new Map(),
      queuedFrames: 0,
      queuedBytes: 0,
      longestQueue: 0,
      sessions: 0,
      mailbox: 0,
      parked: 0,
      listenerBuffered: 0,
      streams: 0,
      awaiting: 0,
      rooms: [],
    };
    for (const connection of this.#source.connections) {
      const { transport, queued } = connection;
      scan.connections.set(transport, (scan.connections.get(transport) ?? 0) + 1);
      scan.queuedFrames += queued;
      scan.queuedBytes += connection.queuedBytes;
      if (queued > scan.longestQueue) scan.longestQueue = queued;
      const calls = connection.callsIfMade;
      if (calls !== undefined) {
        scan.streams += calls.streams;
        scan.awaiting += calls.awaiting;
      }
    }
    const rooms = this.#source.rooms();
    for (const name of rooms.names()) {
      const hub = rooms.get(name);
      if (hub === undefined) continue;
      const stats = hub.stats();
      scan.sessions += stats.sessions;
      scan.mailbox += stats.mailbox;
      scan.parked += stats.parked;
      for (const buffered of stats.listenerBuffers) scan.listenerBuffered += buffered;
      scan.rooms.push({ name, hub, stats });
    }
    return scan;
  }
}

/** A histogram as read once: `buckets` are cumulative counts by upper bound, `+Inf` last. */
export interface HistogramReading {
  readonly count: number;
  readonly sum: number;
  readonly buckets: readonly (readonly [number, number])[];
}

function readHistogram(metric: PromClient.MetricObjectWithValues<PromClient.MetricValueWithName<string>>): HistogramReading {
  let count = 0;
  let sum = 0;
  const buckets: [number, number][] = [];
  for (const { metricName, labels, value } of metric.values) {
    if (metricName?.endsWith('_count') === true) count = value;
    else if (metricName?.endsWith('_sum') === true) sum = value;
    else if (labels['le'] !== undefined) buckets.push([labels['le'] === '+Inf' ? Infinity : Number(labels['le']), value]);
  }
  return { count, sum, buckets };
}

/** The `n` rooms with the most sessions (ties: by name), for per-room series. */
export function topRooms(rooms: readonly RoomSample[], n: number): RoomSample[] {
  return [...rooms].sort((a, b) => b.stats.sessions - a.stats.sessions || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, n);
}

/** Makes a counter read `value` for `labels` (counters here mirror totals kept elsewhere). */
function setCounter(counter: PromClient.Counter<string>, labels: Labels, value: number): void {
  counter.remove(labels);
  counter.inc(labels, value);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
