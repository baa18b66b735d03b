/**
 * One client connection: its identity, the rooms it joined, its bounded outgoing queue, its
 * heartbeat and rate-limit state. Frames it owes are combined: every queued frame goes out in one
 * write per event-loop turn. The connection is the socket's {@link SocketHandler}, so it holds
 * no per-connection closures.
 */
import { randomId, type MessageHub } from '@msghub/messagehub';
import type { SocketHandler, TransportSocket } from './adapter.js';
import { ConnectionCalls, type CallsHost } from './connection-calls.js';
import { NotFoundWireError, RateLimitedError, type WireError } from './errors.js';
import { encodeFrame, isName, peekFrame } from './frame-codec.js';
import { countIn, type Counters } from './metrics.js';
import type { ConnectionInfo, ResolvedServerOptions, ServerRequestOptions } from './options.js';
import { Outbox, type FrameData } from './outbox.js';
import type { ErrorFrame, Ref, ServerFrame, WireErrorCode } from './protocol.js';

/** A connection's place in one room. `hub` is undefined while the join is being authorized. */
export interface Membership {
  readonly hub: MessageHub<unknown> | undefined;
  unsubscribe(): void;
}

/** Lifecycle of a connection. */
export type ConnectionState = 'authenticating' | 'open' | 'closing' | 'closed';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly options: ResolvedServerOptions;
  readonly counters: Counters;
  /** A whole frame arrived on an accepted connection. */
  receive(connection: Connection, text: string): void;
  /** The connection is gone; `code` says why. Called once. */
  disconnected(connection: Connection, code: string): void;
}

/**
 * Checks what server code sends one connection as a `direct` (`connection.send`, `server.sendTo`)
 * and returns its `from`.
 * @throws {TypeError} for a `from` that is not a string of at most 256 characters, or data JSON cannot encode
 */
export function checkDirect(data: unknown, options: { readonly from?: string } | undefined): string {
  const from = options?.from ?? '';
  if (typeof from !== 'string' || from.length > 256) throw new TypeError('Expected `from` to be a string of at most 256 characters');
  try {
    if (JSON.stringify(data) !== undefined) return from;
  } catch {
    // falls through
  }
  throw new TypeError('Expected `data` to be JSON-encodable');
}

let pending: Connection[] = [];
let flushQueued = false;

function flushPending(): void {
  const connections = pending;
  pending = [];
  flushQueued = false;
  for (const connection of connections) connection.flush();
}

// Flags of a connection, in one small integer.
const HELLO_RECEIVED = 1;
const FLUSH_SCHEDULED = 2;
/** This rate-limit window's error for frames without a ref was sent. */
const WINDOW_NOTICED = 4;
/** Reading is paused: too many publishes in flight. */
const PAUSED = 8;

const NO_MEMBERSHIPS: ReadonlyMap<string, Membership> = new Map();
const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});

export class Connection implements SocketHandler, ConnectionInfo, CallsHost {
  readonly id: string;
  readonly socket: TransportSocket;
  userId = '';
  meta: Readonly<Record<string, unknown>> = EMPTY_META;
  /** The rooms its token binds it to; undefined: any room. */
  allowedRooms: readonly string[] | undefined = undefined;
  state: ConnectionState = 'authenticating';
  #joined: Map<string, Membership> | undefined;
  /** Heartbeat bookkeeping (ms since epoch); 0 means unset. */
  readonly openedAt: number;
  lastActive: number;
  lastSeen: number;
  pingSentAt = 0;
  /** When a flush first found the socket still draining (0 while writes go through). */
  blockedSince = 0;
  readonly #host: ConnectionHost;
  /** Frames owed to the socket; made by the first frame queued, dropped by the flush that empties it. */
  #outbox: Outbox | undefined;
  /** HELLO_RECEIVED, FLUSH_SCHEDULED, WINDOW_NOTICED, PAUSED. */
  #flags = 0;
  #closeCode = 'CLOSED';
  #windowStart = 0;
  #windowFrames = 0;
  #pendingPublishes = 0;
  #tail: Promise<void> | undefined;
  /** Made on the first request either way; most connections never make one. */
  #calls: ConnectionCalls | undefined;
  /** Streams waiting for the outgoing queue to go below half its bound. */
  #writableWaiters: (() => void)[] | undefined;

  constructor(id: string, socket: TransportSocket, host: ConnectionHost, now: number) {
    this.id = id;
    this.socket = socket;
    this.#host = host;
    this.openedAt = now;
    this.lastActive = now;
    this.lastSeen = now;
    countIn(host.counters.opened, socket.transport);
  }

  /** Set once a `hello` arrived (a second one is refused). */
  get helloReceived(): boolean {
    return (this.#flags & HELLO_RECEIVED) !== 0;
  }

  set helloReceived(received: boolean) {
    this.#flags = received ? this.#flags | HELLO_RECEIVED : this.#flags & ~HELLO_RECEIVED;
  }

  get transport(): string {
    return this.socket.transport;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get handshake(): TransportSocket['handshake'] {
    return this.socket.handshake;
  }

  /** Room name → this connection's membership in that room (made on first use). */
  get joined(): Map<string, Membership> {
    return (this.#joined ??= new Map());
  }

  /** The memberships, without making the map for a connection that never joined. */
  memberships(): Iterable<[string, Membership]> {
    return this.#joined ?? NO_MEMBERSHIPS;
  }

  get rooms(): ReadonlySet<string> {
    return new Set(this.#joined?.keys());
  }

  /** Whether a `beforeSend` hook must see every frame (so event texts cannot be shared). */
  get hasSendHook(): boolean {
    return this.#host.options.beforeSend !== undefined;
  }

  /** Frames waiting in the outgoing queue. */
  get queued(): number {
    return this.#outbox?.frames ?? 0;
  }

  /** Bytes waiting in the outgoing queue. */
  get queuedBytes(): number {
    return this.#outbox?.bytes ?? 0;
  }

  /** The server's counters. */
  get counters(): Counters {
    return this.#host.counters;
  }

  // ---- SocketHandler ----------------------------------------------------------------------------

  frame(text: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const counters = this.#host.counters;
    counters.framesIn++;
    counters.bytesIn += text.length;
    const now = Date.now();
    this.lastSeen = now;
    this.pingSentAt = 0;
    if (this.#limited(now, text)) return;
    this.#host.receive(this, text);
  }

  invalid(error: WireError, fatal: boolean): void {
    this.error(error);
    if (fatal) this.close(error.code);
  }

  drain(): void {
    if (this.#outbox !== undefined) this.schedule();
    else this.#wakeWriters();
  }

  closed(): void {
    if (this.state === 'closed') return;
    this.#tail = undefined;
    this.state = 'closed';
    this.#outbox = undefined;
    this.#calls?.closed();
    this.#wakeWriters();
    countIn(this.#host.counters.disconnects, this.#closeCode);
    this.#host.disconnected(this, this.#closeCode);
  }

  // ---- sending -----------------------------------------------------------------------------------

  /**
   * Queues a frame (through the `beforeSend` hook).
   * @returns false when the frame could not be encoded as JSON (its `ref`, if any, was answered
   *   with an `INTERNAL` error instead)
   */
  sendFrame(frame: ServerFrame): boolean {
    const hook = this.#host.options.beforeSend;
    let out: ServerFrame | null = frame;
    if (hook !== undefined) {
      try {
        out = hook(frame, this);
      } catch (error) {
        this.#host.options.onError(error);
      }
      if (out === null) return true;
    }
    let text: string;
    try {
      text = encodeFrame(out);
    } catch (error) {
      // A frame JSON cannot hold (a BigInt from a hook or handler): report it, answer its ref.
      this.#host.options.onError(error);
      const { ref } = out as { ref?: Ref };
      // A server request's ref is the server's own: there is no client call to answer.
      if (out.type === 'error' || out.type === 'request' || ref === undefined) return false;
      text = encodeFrame({ type: 'error', code: 'INTERNAL', message: 'The answer could not be encoded as JSON', ref });
      this.enqueue(text, undefined, 0);
      return false;
    }
    this.enqueue(text, undefined, 0);
    return true;
  }

  // ---- calls ---------------------------------------------------------------------------------

  /** The connection's running requests, streams and server requests (made on first use). */
  get calls(): ConnectionCalls {
    return (this.#calls ??= new ConnectionCalls(this));
  }

  /** The connection's calls if any were made, for reading (`calls` makes them on first use). */
  get callsIfMade(): ConnectionCalls | undefined {
    return this.#calls;
  }

  get maxStreams(): number {
    return this.#host.options.maxStreams;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  request<T = unknown>(op: string, data?: unknown, options: ServerRequestOptions = {}): Promise<T> {
    if (!isName(op)) throw new TypeError('Expected `op` to be a string of 1 to 256 characters');
    const timeoutMs = options.timeoutMs ?? this.#host.options.requestTimeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new TypeError(`Expected \`timeoutMs\` to be an integer >= 1, got ${String(timeoutMs)}`);
    }
    return this.calls.request(op, data, timeoutMs) as Promise<T>;
  }

  send(data: unknown, options: { readonly from?: string } = {}): string {
    const from = checkDirect(data, options);
    if (this.state !== 'open') throw new NotFoundWireError(`No connection ${this.id}: it has ${this.state === 'closed' ? 'closed' : 'not been welcomed or is closing'}`);
    const id = randomId();
    this.sendFrame({ type: 'direct', id, from, data, ts: Date.now() });
    return id;
  }

  notify(op: string, data?: unknown): boolean {
    if (!isName(op)) throw new TypeError('Expected `op` to be a string of 1 to 256 characters');
    if (this.state !== 'open') return false;
    if (!this.sendFrame(data === undefined ? { type: 'notify', op } : { type: 'notify', op, data })) {
      throw new TypeError('Expected `data` to be JSON-encodable');
    }
    return true;
  }

  /**
   * Undefined while the outgoing queue is below half its bounds (frames and bytes) and the socket
   * takes writes; else a promise that resolves once they are, or when the connection has ended.
   */
  whenWritable(): Promise<void> | undefined {
    if (!this.#congested()) return undefined;
    return new Promise<void>((resolve) => (this.#writableWaiters ??= []).push(resolve));
  }

  #congested(): boolean {
    // A closing connection takes nothing more: its streams wait for `closed`, which stops them.
    if (this.state === 'closed') return false;
    if (this.state === 'closing') return true;
    const { maxQueuedFrames, maxQueuedBytes } = this.#host.options;
    const outbox = this.#outbox;
    return (outbox !== undefined && (outbox.frames * 2 >= maxQueuedFrames || outbox.bytes * 2 >= maxQueuedBytes)) || this.socket.needsDrain;
  }

  #wakeWriters(): void {
    const waiters = this.#writableWaiters;
    if (waiters === undefined || this.#congested()) return;
    this.#writableWaiters = undefined;
    for (const wake of waiters) wake();
  }

  /** Queues an encoded frame as is; `room` and `id` mark a room event the drop-oldest policy may discard. */
  enqueue(frame: FrameData, room: string | undefined, id: number): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    let outbox = this.#outbox;
    if (outbox === undefined) {
      const { maxQueuedFrames, maxQueuedBytes, slowConsumerPolicy } = this.#host.options;
      outbox = this.#outbox = new Outbox(maxQueuedFrames, maxQueuedBytes, slowConsumerPolicy);
    }
    if (!outbox.push(frame, room, id)) {
      this.slowConsumer('Outgoing queue full');
      return;
    }
    if (outbox.dropped > 0) {
      const counters = this.#host.counters;
      counters.droppedEvents += outbox.dropped;
      counters.gaps['dropped'] = (counters.gaps['dropped'] ?? 0) + outbox.gaps;
      outbox.dropped = 0;
      outbox.gaps = 0;
    }
    this.schedule();
  }

  /**
   * Sends an `error` frame for `error`, answering `ref` / a frame of type `frame`. For a client's
   * `response` or `error` frame (an answer to a server request) `ref` is left out.
   */
  error(error: WireError, ref?: Ref, frame?: string): void {
    this.#host.counters.errorsSent++;
    const out: ErrorFrame = { type: 'error', code: error.code, message: error.message };
    // The ref of a client's `response` or `error` is the server's own (it answers a server
    // request): echoed back, the client would take it for one of its own refs.
    if (ref !== undefined && frame !== 'response' && frame !== 'error') out.ref = ref;
    if (frame !== undefined) out.frame = frame;
    const supported = (error as { supported?: readonly number[] }).supported;
    if (supported !== undefined) out.supported = supported;
    if (error instanceof RateLimitedError && error.retryAfterMs !== undefined) out.retryAfterMs = error.retryAfterMs;
    this.sendFrame(out);
  }

  /** Passes an error with no client to go to to the server's `onError`. */
  report(error: unknown): void {
    this.#host.options.onError(error);
  }

  /** Drops what is queued and closes with `SLOW_CONSUMER`. */
  slowConsumer(reason: string): void {
    this.#host.counters.slowConsumerCloses++;
    this.#outbox = undefined;
    this.close('SLOW_CONSUMER', reason);
  }

  schedule(): void {
    if ((this.#flags & FLUSH_SCHEDULED) !== 0) return;
    this.#flags |= FLUSH_SCHEDULED;
    pending.push(this);
    if (!flushQueued) {
      flushQueued = true;
      setImmediate(flushPending);
    }
  }

  /** Writes every queued frame in one write, unless the socket is still draining. */
  flush(): void {
    this.#flags &= ~FLUSH_SCHEDULED;
    if (this.state === 'closed') return;
    if (this.#outbox === undefined) {
      this.blockedSince = 0;
      this.#wakeWriters();
      return;
    }
    // The socket's 'drain' reschedules; meanwhile frames wait (and count) in the outbox.
    if (this.socket.needsDrain) {
      if (this.blockedSince === 0) this.blockedSince = Date.now();
      return;
    }
    this.blockedSince = 0;
    this.#write(this.#takeQueued());
    this.#wakeWriters();
  }

  /** Takes every queued frame, counting the room events among them as written. */
  #takeQueued(): FrameData[] {
    const outbox = this.#outbox;
    if (outbox === undefined) return [];
    this.#outbox = undefined;
    this.#host.counters.eventsOut += outbox.events;
    return outbox.take();
  }

  #write(frames: FrameData[]): void {
    const counters = this.#host.counters;
    counters.framesOut += frames.length;
    for (let i = 0; i < frames.length; i++) counters.bytesOut += (frames[i] as FrameData).length;
    this.socket.write(frames);
    const hook = this.#host.options.afterSend;
    if (hook === undefined) return;
    try {
      hook(frames.map(String), this);
    } catch (error) {
      this.#host.options.onError(error);
    }
  }

  /**
   * Closes the connection: flushes what is queued (unless cleared), sends `lead` (a `kicked`
   * frame) and `bye` with `code`, then ends the socket. Idempotent.
   */
  close(code: WireErrorCode, reason?: string, lead?: ServerFrame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.#closeCode = code;
    const texts = this.#takeQueued();
    if (lead !== undefined) texts.push(encodeFrame(lead));
    texts.push(encodeFrame(reason === undefined ? { type: 'bye', code } : { type: 'bye', code, reason }));
    this.#write(texts);
    this.socket.end();
    // The room sees the session leave now, not when the peer finally lets go of the socket.
    this.closed();
  }

  /** Closes at once without a `bye` (the peer is gone or unresponsive). */
  destroy(code: string): void {
    if (this.state === 'closed') return;
    this.#closeCode = code;
    this.state = 'closing';
    this.socket.destroy();
  }

  /**
   * Runs `task` after the connection's earlier ordered tasks: at once when none is pending,
   * else when the last one settles. Keeps one connection's joins and publishes in order even when
   * an authorization hook is async.
   */
  ordered(task: () => void | Promise<void>): void {
    const tail = this.#tail;
    if (tail === undefined) {
      const result = task();
      if (result !== undefined) this.#track(result);
      return;
    }
    this.#track(tail.then(task));
  }

  #track(promise: Promise<void>): void {
    const settled = promise.then(undefined, this.#host.options.onError);
    this.#tail = settled;
    void settled.then(() => {
      if (this.#tail === settled) this.#tail = undefined;
    });
  }

  // ---- backpressure ------------------------------------------------------------------------------

  /** A publish went to a room; past `maxPendingPublishes` in flight, stop reading. */
  publishStarted(): void {
    if (++this.#pendingPublishes >= this.#host.options.maxPendingPublishes && (this.#flags & PAUSED) === 0) {
      this.#flags |= PAUSED;
      this.socket.pause();
    }
  }

  publishSettled(): void {
    if (--this.#pendingPublishes < this.#host.options.maxPendingPublishes && (this.#flags & PAUSED) !== 0) {
      this.#flags &= ~PAUSED;
      if (this.state !== 'closed') this.socket.resume();
    }
  }

  #limited(now: number, text: string): boolean {
    const limit = this.#host.options.rateLimit;
    if (limit === false) return false;
    if (now - this.#windowStart >= limit.intervalMs) {
      this.#windowStart = now;
      this.#windowFrames = 0;
      this.#flags &= ~WINDOW_NOTICED;
    }
    if (++this.#windowFrames <= limit.frames) return false;
    this.#host.counters.rateLimited++;
    const message = `More than ${limit.frames} frames in ${limit.intervalMs} ms`;
    const retryAfterMs = Math.max(1, this.#windowStart + limit.intervalMs - now);
    // A dropped frame that awaits an answer (it has a ref) gets its own, so its sender learns it
    // was not acted on; other dropped frames get one error per window, not one each.
    const { ref, type } = peekFrame(text);
    if (ref !== undefined) this.error(new RateLimitedError(message, { retryAfterMs }), ref, type);
    else if ((this.#flags & WINDOW_NOTICED) === 0) {
      this.#flags |= WINDOW_NOTICED;
      this.error(new RateLimitedError(message, { retryAfterMs }));
    }
    return true;
  }
}
