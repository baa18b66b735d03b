import { BehaviorSubject, Observable, Subject } from 'rxjs';
import { backoffDelay } from './backoff.js';
import { ClientCalls, type ServerRequestHandler } from './calls.js';
import { DirectInbox, MAX_DIRECT_TTL_MS } from './direct-inbox.js';
import { DiscardCallbacks, discardCallbackOf, reportLater, type DiscardCallback } from './discard-callbacks.js';
import {
  ClientClosedError,
  ConnectionFailedError,
  DisconnectedError,
  InvalidArgumentError,
  RequestTimeoutError,
  SendDiscardedError,
  ServerError,
  errorFromWire,
  isFatalCode,
  isRefusedHello,
  type ClientError,
  type DiscardReason,
} from './errors.js';
import { Link, type LinkEvents, type LinkOptions } from './link.js';
import { describe, resolveOptions, type ClientOptions, type Discarded, type ResolvedOptions } from './options.js';
import { OnlineWait } from './online.js';
import { PendingRequests, type Answer } from './pending.js';
import type { ClientFrame, DirectSendFrame, PublishFrame, Ref, ServerFrame, WelcomeFrame } from './protocol.js';
import { RoomChannel, type JoinOptions, type RoomItem, type RoomPosition } from './room.js';
import { SendBuffer, type SendResult } from './send-buffer.js';

/**
 * Where the client stands:
 * - `connecting`: the first connection attempt is under way;
 * - `connected`: welcomed, every room rejoined and the send buffer flushed;
 * - `reconnecting`: a connection was lost or an attempt failed, the next attempt waits or runs;
 * - `disconnected`: closed for good (by `close()`, a fatal server error, or after the last attempt).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** A user-to-user message (`direct` frame) addressed to this client's user. */
export interface DirectMessage<T = unknown> {
  /** The message's id, unique across server restarts (a server before acknowledgements sent a number; it is given as a string). */
  readonly id: string;
  readonly from: string;
  readonly data: T;
  readonly ts: number;
}

/**
 * An ephemeral signal another member sent to a room this client joined (see
 * {@link MsghubClient.signal}): no event id, not stored, never replayed.
 */
export interface RoomSignal<T = unknown> {
  readonly room: string;
  /** The sender's user id (possibly this client's own user, from another of its connections). */
  readonly from: string;
  readonly data: T;
}

/** Options of {@link MsghubClient.publish}. */
export interface PublishOptions {
  /**
   * Called once if this message is dropped without being written: the send buffer was full
   * (`full`), it waited longer than `sendBuffer.timeoutMs` (`timeout`), or the client closed
   * first (`closed`). Never called for a message that was written. @default none
   */
  onDiscard?: DiscardCallback;
}

/** Options of {@link MsghubClient.direct}. */
export interface DirectOptions extends PublishOptions {
  /** Whisper inside this room instead of sending a user-to-user message. @default none */
  room?: string;
  /** User-to-user only: deliver within this many milliseconds (1 to 30 days) or never. @default the server's queue TTL */
  ttlMs?: number;
}

/** Options of {@link MsghubClient.request}. */
export interface RequestOptions {
  /** Milliseconds to wait for the answer. @default the client's `requestTimeoutMs` */
  timeoutMs?: number;
}

/** Options of {@link MsghubClient.publishAsync}. */
export interface AckOptions {
  /**
   * Milliseconds to wait for the server's answer once the frame is written (time in the send
   * buffer does not count; `sendBuffer.timeoutMs` bounds that). @default the client's `requestTimeoutMs`
   */
  timeoutMs?: number;
}

/** Options of {@link MsghubClient.directAsync}. */
export interface DirectAsyncOptions extends DirectOptions, AckOptions {}

/**
 * An acknowledged send: a promise of the server's answer that also tells, synchronously, what
 * happened to the frame right away (`status`, as {@link MsghubClient.publish} returns it).
 */
export interface PendingSend<T> extends Promise<T> {
  /** `sent` (written now), `queued` (waits in the send buffer) or `discarded` (the promise rejects). */
  readonly status: SendResult;
}

/** Options of {@link MsghubClient.close}. */
export interface CloseOptions {
  /**
   * Before closing, wait for what is in flight: requests, `publishAsync` and `directAsync` awaiting
   * their answer, the send buffer (flushed on the next connection), running streams and answers
   * to server requests. New calls are refused meanwhile. @default false
   */
  drain?: boolean;
  /**
   * With `drain`: the longest wait, in ms; what is still in flight then fails as without `drain`.
   * @default the client's `requestTimeoutMs`
   */
  timeoutMs?: number;
}

/** The committed event id an `ok` carries, if any. */
function committedId(answer: Answer): number | undefined {
  return answer.type === 'ok' && typeof answer.id === 'number' ? answer.id : undefined;
}

function checkName(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`Expected ${what} to be a non-empty string, got ${describe(value)}`);
  }
}

/**
 * Refuses data JSON cannot encode (a BigInt, a cycle, a throwing `toJSON`) before it is buffered or
 * written: the caller gets the error, and the connection and everything queued behind it are untouched.
 */
function checkData(what: string, value: unknown): void {
  if (value === undefined || value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return;
  try {
    JSON.stringify(value);
  } catch (error) {
    throw new InvalidArgumentError(`Expected ${what} to be JSON-encodable: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/**
 * One client for browsers and Node, speaking protocol v1. It connects on construction, reconnects
 * with backoff, rejoins every room from the position it delivered (epoch and last event id: each
 * event exactly once, in order, or an explicit gap notice), and keeps frames in a bounded buffer
 * while disconnected.
 * @example
 * const client = new MsghubClient({ connector: webSocketConnector('ws://127.0.0.1:8080/hub'), token });
 * client.join('lobby').subscribe((item) => console.log(item));
 * client.publish('lobby', 'hello'); // 'sent' | 'queued' | 'discarded'
 * const id = await client.publishAsync('lobby', 'hello again'); // the committed event id
 * const time = await client.request('time');
 */
export class MsghubClient {
  readonly #options: ResolvedOptions;
  readonly #linkOptions: LinkOptions;
  readonly #linkEvents: LinkEvents;
  readonly #state = new BehaviorSubject<ConnectionState>('connecting');
  readonly #carrier = new BehaviorSubject<string | undefined>(undefined);
  readonly #errors = new Subject<ClientError>();
  readonly #direct = new Subject<DirectMessage>();
  readonly #inbox = new DirectInbox((message) => this.#direct.next(message));
  readonly #signals = new Subject<RoomSignal>();
  readonly #discarded = new Subject<Discarded>();
  readonly #rooms = new Map<string, RoomChannel>();
  /** Joins waiting for their answer, by ref: the `ok` positions its room before the replay that follows. */
  readonly #joins = new Map<Ref, RoomChannel>();
  readonly #pending: PendingRequests;
  readonly #buffer: SendBuffer<ClientFrame>;
  readonly #onDiscard = new DiscardCallbacks(reportLater);
  /** Streams, server requests and notifications. */
  readonly #calls: ClientCalls;
  /** `close({ drain: true })` waits: new calls are refused. */
  #draining = false;
  #closing: Promise<void> | undefined;
  /** While draining: checks whether everything in flight has ended. */
  #drainCheck: (() => void) | undefined;
  /** While draining: ends the wait at once. */
  #drainEnd: (() => void) | undefined;
  #link: Link | undefined;
  #welcome: WelcomeFrame | undefined;
  /** Welcomed, rooms rejoined and buffer flushed: frames go straight to the link. */
  #ready = false;
  #attempt = 0;
  #reconnectTimer: unknown;
  /** Waits for the platform to be online again (browsers). */
  readonly #online = new OnlineWait();
  /** The link was dropped by {@link reconnect}: the next attempt goes at once. */
  #reconnectNow = false;
  #closed = false;
  #linkGone: (() => void) | undefined;
  /** Why the client closed: the cause of what `close` discards. */
  #closeReason: Error | undefined;

  /** Every state change, starting with the current one. Completes after `disconnected`. */
  readonly state$: Observable<ConnectionState> = this.#state.asObservable();
  /**
   * The carrier of each connection as it is welcomed (`websocket`, `http`, `tcp`), starting with
   * the current one (undefined before the first). Completes after `disconnected`.
   */
  readonly carrier$: Observable<string | undefined> = this.#carrier.asObservable();
  /**
   * Errors that have no caller to go to: each failed or lost connection (with its reason), and
   * server `error` frames that answer a frame sent without `ref` (`publish`, `direct`).
   */
  readonly errors$: Observable<ClientError> = this.#errors.asObservable();
  /** User-to-user messages addressed to this client's user. */
  readonly direct$: Observable<DirectMessage> = this.#direct.asObservable();
  /** Ephemeral signals from the other members of the rooms this client joined. */
  readonly signals$: Observable<RoomSignal> = this.#signals.asObservable();
  /** Every frame the send buffer dropped, with the reason. */
  readonly discarded$: Observable<Discarded> = this.#discarded.asObservable();

  /** @throws InvalidOptionError when an option has the wrong type or range */
  constructor(options: ClientOptions) {
    this.#options = resolveOptions(options);
    const { timers } = this.#options;
    this.#pending = new PendingRequests(timers, () => this.#drainCheck?.());
    this.#buffer = new SendBuffer(this.#options.sendBuffer, timers, (frame, reason) => this.#discard(frame, reason));
    this.#calls = new ClientCalls({
      nextRef: () => this.#pending.nextRef(),
      send: (frame, again) => this.#send(frame, undefined, again),
      later: (callback, ms) => void this.#options.timers.setTimeout(callback, ms),
      refusing: () => this.#closed || this.#draining,
      changed: () => this.#drainCheck?.(),
    });
    this.#linkOptions = { ...this.#options };
    this.#linkEvents = {
      welcome: (link, frame) => this.#onWelcome(link, frame),
      frame: (link, frame) => this.#onFrame(link, frame),
      end: (link, error) => this.#onEnd(link, error),
    };
    this.#connect();
  }

  /** The current state (see {@link ConnectionState}). */
  get state(): ConnectionState {
    return this.#state.value;
  }

  /**
   * The carrier of the current connection: `websocket`, `http` (the HTTP fallback) or `tcp`;
   * undefined while not connected, or when the connector does not name its carrier.
   */
  get carrier(): string | undefined {
    return !this.#closed && this.#link?.ready === true ? this.#link.carrier : undefined;
  }

  /** The user id the server assigned in the last `welcome`, once connected. */
  get userId(): string | undefined {
    return this.#welcome?.userId;
  }

  /**
   * The events of `room`, each exactly once and in id order, with a {@link RoomGap} notice where
   * the server could not resend what a disconnection cost. Subscribing joins the room (now, or
   * as soon as the client is connected); it stays joined across reconnects until the last
   * subscriber unsubscribes or {@link MsghubClient.leave} is called. The stream completes after
   * the room's `close` event (not a `close` replayed from before a re-created room's join, after
   * which the room goes on), on `leave` and on `close()`, and fails with a {@link ServerError}
   * when the server refuses the join. Later subscribers share the stream from where it is.
   * @param options.since resume after this id (only used by the subscription that joins)
   * @param options.epoch the epoch `since` was counted in (see {@link MsghubClient.position})
   * @example
   * client.join<string>('lobby').subscribe((item) => {
   *   if (item.type === 'gap') console.warn(`missed ${item.since + 1}..${item.resumeAt - 1}`);
   *   else render(item);
   * });
   */
  join<T = unknown>(room: string, options: JoinOptions = {}): Observable<RoomItem<T>> {
    checkName('room', room);
    const { since, epoch } = options;
    if (since !== undefined && (!Number.isInteger(since) || since < 0)) {
      throw new InvalidArgumentError(`Expected options.since to be an integer >= 0, got ${describe(since)}`);
    }
    if (epoch !== undefined && (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > 64 || since === undefined)) {
      throw new InvalidArgumentError(
        `Expected options.epoch to be a string of 1 to 64 characters, given with options.since, got ${describe(epoch)}`,
      );
    }
    return new Observable<RoomItem<T>>((subscriber) => {
      if (this.#closed) {
        subscriber.error(new ClientClosedError('The client is closed'));
        return undefined;
      }
      const channel = this.#channel(room, since, epoch);
      channel.subscribers++;
      const subscription = (channel.items as Observable<RoomItem<T>>).subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        this.#release(channel);
      };
    });
  }

  /**
   * Where the stream of `room` stands: the epoch of the room's sequence and the last event id
   * delivered in it. Read it in a subscriber to persist a position, and hand it back to
   * {@link MsghubClient.join} (`since`, `epoch`) to resume in a later client.
   * @returns undefined while the room is not joined or its first join is not answered yet
   * @example
   * client.join('lobby').subscribe(() => save(client.position('lobby')));
   * // later: const { lastEventId, epoch } = load(); client.join('lobby', { since: lastEventId, epoch });
   */
  position(room: string): RoomPosition | undefined {
    checkName('room', room);
    return this.#rooms.get(room)?.position;
  }

  /**
   * Leaves `room`: its stream completes and it is not rejoined. Resolves when the server
   * confirmed, or at once when not connected.
   */
  async leave(room: string): Promise<void> {
    checkName('room', room);
    const channel = this.#rooms.get(room);
    if (channel === undefined) return;
    this.#rooms.delete(room);
    channel.end();
    const link = this.#link;
    if (link === undefined || !link.ready) return;
    const ref = this.#pending.nextRef();
    const answer = this.#pending.open(ref, this.#options.requestTimeoutMs, `leave ${room}`);
    this.#write(link, { type: 'leave', ref, room });
    try {
      await answer;
    } catch (error) {
      // Losing the connection leaves the room too.
      if (!(error instanceof DisconnectedError)) throw error;
    }
  }

  /**
   * Publishes `data` to `room` (which this client should have joined), without waiting for an
   * answer: a server error goes to `errors$`. {@link MsghubClient.publishAsync} waits for the id.
   * @param options.onDiscard called if this message is dropped unsent (see {@link PublishOptions})
   * @returns `sent` (written), `queued` (kept until the next connection) or `discarded`
   *   (the buffer is full or the client is closed; also reported on `discarded$`)
   * @example
   * client.publish('lobby', draft, { onDiscard: (reason) => keepDraft(draft, reason) });
   */
  publish(room: string, data: unknown, options: PublishOptions = {}): SendResult {
    checkName('room', room);
    checkData('data', data);
    const onDiscard = discardCallbackOf(options);
    return this.#send({ type: 'publish', room, data }, onDiscard);
  }

  /**
   * Sends an ephemeral signal to the other members of `room`, which this client should have
   * joined: a typing indicator, a cursor position. The server fans it out to whoever is in the
   * room now, as {@link MsghubClient.signals$} items; it takes no event id and is neither stored
   * nor replayed. It is never buffered: a signal is worth nothing late.
   * @returns `sent`, or `discarded` while the client is not connected (not reported on `discarded$`)
   * @example
   * input.addEventListener('input', () => client.signal('lobby', { typing: true }));
   * client.signals$.subscribe(({ room, from, data }) => showTyping(room, from, data));
   */
  signal(room: string, data: unknown): Exclude<SendResult, 'queued'> {
    checkName('room', room);
    checkData('data', data);
    const link = this.#link;
    if (this.#closed || !this.#ready || link === undefined) return 'discarded';
    this.#write(link, { type: 'signal', room, data });
    return 'sent';
  }

  /**
   * Sends `data` to user `to`: a user-to-user message (the server queues it while `to` is
   * offline), or a whisper inside `options.room`.
   * @returns `sent`, `queued` or `discarded`, as {@link MsghubClient.publish}
   */
  direct(to: string, data: unknown, options: DirectOptions = {}): SendResult {
    checkName('to', to);
    checkData('data', data);
    const onDiscard = discardCallbackOf(options);
    const { room, ttlMs } = options;
    if (room !== undefined) checkName('options.room', room);
    if (ttlMs !== undefined && (room !== undefined || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_DIRECT_TTL_MS)) {
      throw new InvalidArgumentError(`Expected options.ttlMs to be an integer from 1 to ${MAX_DIRECT_TTL_MS}, without room, got ${describe(ttlMs)}`);
    }
    const frame: Extract<ClientFrame, { type: 'direct' }> = room === undefined ? { type: 'direct', to, data } : { type: 'direct', to, data, room };
    if (ttlMs !== undefined) frame.ttlMs = ttlMs;
    return this.#send(frame, onDiscard);
  }

  /**
   * Publishes `data` to `room` and waits for the server's acknowledgement: it answers once the
   * room's store committed the event. Sent now, or kept in the send buffer until the next
   * connection (then it resolves after the flush and the answer). Never sent twice.
   * @returns a promise of the committed event id (the `id` subscribers see), with the immediate
   *   `status`; the id is undefined only when the server accepted the message without publishing it
   *   (a server hook that consumed it)
   * @throws RoomError (`NOT_JOINED`), ForbiddenError, ProtocolError (`UNENCODABLE`, ...): refused, not published
   * @throws SendDiscardedError dropped from the send buffer, never written: safe to send again
   * @throws DisconnectedError, RequestTimeoutError, ClientClosedError, OperationError (`STORE_FAILED`):
   *   written, but the outcome is unknown (it may be in the room)
   * @example
   * try {
   *   const id = await client.publishAsync('lobby', 'hello');
   * } catch (error) {
   *   if (error instanceof DisconnectedError) await reconcile(); // published or not: look at the room
   * }
   */
  publishAsync(room: string, data: unknown, options: AckOptions = {}): PendingSend<number | undefined> {
    checkName('room', room);
    checkData('data', data);
    const timeoutMs = this.#timeoutOf(options.timeoutMs);
    const ref = this.#pending.nextRef();
    return this.#sendAcked({ type: 'publish', ref, room, data }, timeoutMs, `publish to ${room}`);
  }

  /**
   * Sends `data` to user `to` as {@link MsghubClient.direct} does, and waits for the server's
   * acknowledgement. Errors as {@link MsghubClient.publishAsync}, plus `OFFLINE_QUEUE_FULL` and
   * `NOT_FOUND` (`OperationError`) for a user-to-user message the server cannot keep.
   * @returns a promise of the committed event id of a whisper (`options.room`), or undefined for
   *   a user-to-user message (delivered, or queued while `to` is offline), with the immediate `status`
   */
  directAsync(to: string, data: unknown, options: DirectAsyncOptions = {}): PendingSend<number | undefined> {
    checkName('to', to);
    checkData('data', data);
    if (options.room !== undefined) checkName('options.room', options.room);
    const timeoutMs = this.#timeoutOf(options.timeoutMs);
    const ref = this.#pending.nextRef();
    const frame: DirectSendFrame =
      options.room === undefined ? { type: 'direct', ref, to, data } : { type: 'direct', ref, to, data, room: options.room };
    return this.#sendAcked(frame, timeoutMs, `direct to ${to}`);
  }

  /**
   * Calls the server operation `op` with `input`. While disconnected the request waits in the
   * send buffer. It is sent again only after a `RATE_LIMITED` with `retryAfterMs` (the server
   * dropped it unread), once that delay has passed; never after the server may have acted on it.
   * @returns the `response` data
   * @throws RequestTimeoutError no answer within the timeout
   * @throws DisconnectedError the connection dropped after the request was written
   * @throws SendDiscardedError the request was dropped from the send buffer
   * @throws ClientClosedError the client closed first
   * @throws ServerError (a subclass per kind) the server answered with an `error`
   */
  async request<R = unknown>(op: string, input?: unknown, options: RequestOptions = {}): Promise<R> {
    checkName('op', op);
    checkData('input', input);
    const timeoutMs = this.#timeoutOf(options.timeoutMs);
    if (this.#closed || this.#draining) throw new ClientClosedError('The client is closed');
    const ref = this.#pending.nextRef();
    const frame: Extract<ClientFrame, { type: 'request' }> = input === undefined ? { type: 'request', ref, op } : { type: 'request', ref, op, data: input };
    const answer = this.#pending.open(ref, timeoutMs, `request ${op}`, 'open', () => this.#send(frame, undefined, true));
    this.#send(frame);
    const reply = await answer;
    return (reply.type === 'response' ? reply.data : undefined) as R;
  }

  /**
   * Drops the current connection (or attempt, or wait) and connects again now, with the backoff
   * reset: as after a lost connection, every room is rejoined from its position and the send buffer
   * is flushed; requests written on the dropped connection fail with {@link DisconnectedError}. Use
   * it when the application knows better than the heartbeat that the path changed (a network
   * switch, a resumed laptop). It does not wait for `navigator.onLine`.
   * @throws ClientClosedError after `close()`
   */
  reconnect(): void {
    if (this.#closed) throw new ClientClosedError('The client is closed');
    this.#attempt = 0;
    const link = this.#link;
    if (link === undefined) {
      this.#stopWaiting();
      this.#setState('reconnecting');
      this.#connect(true);
      return;
    }
    // The link is forgotten now: whatever it still reports is ignored, and the next attempt goes at once.
    this.#reconnectNow = true;
    const reason = new ConnectionFailedError('Reconnecting: asked by the application');
    link.close(reason);
    this.#onEnd(link, reason);
  }

  /**
   * Calls the server operation `op` as a stream: the server's handler returns an async iterable,
   * and each value it yields is one item here. Each subscription is one call; unsubscribing
   * cancels it on the server (which stops pulling the iterable). An operation whose handler
   * returns one value gives a stream of that one value. There is no timeout.
   * The Observable fails with the typed error the server answers with (`UNKNOWN_OP`,
   * `TOO_MANY_STREAMS`, or what the handler threw), {@link DisconnectedError} when the connection
   * drops (streams are not resumed), {@link SendDiscardedError} when the request never left the
   * send buffer, {@link ClientClosedError} when the client closes first.
   * @example
   * const sub = client.stream<Tick>('ticks', { symbol: 'ACME' }).subscribe((tick) => draw(tick));
   * sub.unsubscribe(); // the server's generator is finalized
   */
  stream<T = unknown>(op: string, input?: unknown): Observable<T> {
    checkName('op', op);
    checkData('input', input);
    return this.#calls.stream<T>(op, input);
  }

  /**
   * Registers the handler of the server's requests for `op` (`server.request(connectionId, op,
   * data)`), replacing an earlier one. A request for an op with no handler is answered `UNKNOWN_OP`;
   * a handler that throws is answered with the error's `code` (upper-case letters, digits, `_`) or
   * `INTERNAL`, and its message.
   * @example
   * client.handle('viewport', () => ({ width: innerWidth, height: innerHeight }));
   */
  handle(op: string, handler: ServerRequestHandler): this {
    checkName('op', op);
    if (typeof handler !== 'function') throw new InvalidArgumentError(`Expected handler to be a function, got ${describe(handler)}`);
    this.#calls.handle(op, handler);
    return this;
  }

  /**
   * Sends the named notification `op` to the server (a handler registered with
   * `server.onNotify(op, fn)`). Fire and forget; an op the server has no handler for comes back on
   * `errors$` as `UNKNOWN_OP`.
   * @returns `sent`, `queued` or `discarded`, as {@link MsghubClient.publish}
   */
  notify(op: string, data?: unknown): SendResult {
    checkName('op', op);
    checkData('data', data);
    return this.#send(data === undefined ? { type: 'notify', op } : { type: 'notify', op, data });
  }

  /** The data of every notification `op` the server sends (`server.notify`, `connection.notify`). Completes on close. */
  notifications<T = unknown>(op: string): Observable<T> {
    checkName('op', op);
    return this.#calls.notifications<T>(op);
  }

  /**
   * Closes the client for good: says `bye`, fails pending requests with {@link ClientClosedError},
   * discards the send buffer (reason `closed`), fails running streams, completes every room stream
   * and `state$`. With `drain`, first waits (at most `timeoutMs`) for what is in flight to end
   * (see {@link CloseOptions}). Resolves once the connection is closed. Safe to call more than
   * once; a call without `drain` ends a drain under way at once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    const { drain = false } = options;
    if (typeof drain !== 'boolean') throw new InvalidArgumentError(`Expected options.drain to be a boolean, got ${describe(drain)}`);
    const timeoutMs = drain ? this.#timeoutOf(options.timeoutMs) : 0;
    if (this.#closing !== undefined) {
      if (!drain) this.#drainEnd?.();
      return this.#closing;
    }
    if (this.#closed) return Promise.resolve();
    this.#closing = drain ? this.#drainThenClose(timeoutMs) : this.#closeNow();
    return this.#closing;
  }

  async #drainThenClose(timeoutMs: number): Promise<void> {
    this.#draining = true;
    await new Promise<void>((resolve) => {
      const { timers } = this.#options;
      const finish = (): void => {
        timers.clearTimeout(timer);
        this.#drainCheck = undefined;
        this.#drainEnd = undefined;
        resolve();
      };
      const timer = timers.setTimeout(finish, timeoutMs);
      this.#drainCheck = () => {
        if (this.#closed || (this.#pending.size === 0 && this.#buffer.size === 0 && this.#calls.idle)) finish();
      };
      this.#drainEnd = finish;
      this.#drainCheck();
    });
    await this.#closeNow();
  }

  #closeNow(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const link = this.#link;
    if (link?.ready) link.send({ type: 'bye' });
    const gone = new Promise<void>((resolve) => {
      this.#linkGone = resolve;
    });
    this.#shutdown(new ClientClosedError('The client is closed'), undefined);
    return link === undefined ? Promise.resolve() : gone;
  }

  /** Opens a link, unless the platform is offline (then waits for it), or `now` says go anyway. */
  #connect(now = false): void {
    this.#reconnectTimer = undefined;
    if (!now && this.#waitForOnline()) return;
    // The link is current before its connector runs, which may already report its end.
    const link = new Link(this.#linkOptions, this.#linkEvents);
    this.#link = link;
    try {
      link.open();
    } catch (error) {
      if (this.#link !== link) return;
      this.#link = undefined;
      this.#lost(new ConnectionFailedError('The connector failed', { cause: error }));
    }
  }

  #onWelcome(link: Link, frame: WelcomeFrame): void {
    if (link !== this.#link) return;
    this.#welcome = frame;
    if (this.#carrier.value !== link.carrier) this.#carrier.next(link.carrier);
    void this.#resume(link);
  }

  /** Rejoins every room from its last id, then flushes the buffer in order: only then `connected`. */
  async #resume(link: Link): Promise<void> {
    await Promise.all([...this.#rooms.values()].map((channel) => this.#sendJoin(channel, link)));
    if (link !== this.#link || !link.ready) return;
    for (const frame of this.#buffer.drain()) this.#write(link, frame);
    this.#ready = true;
    this.#attempt = 0;
    this.#setState('connected');
    this.#drainCheck?.();
  }

  async #sendJoin(channel: RoomChannel, link: Link): Promise<void> {
    const ref = this.#pending.nextRef();
    const room = channel.name;
    const answer = this.#pending.open(ref, this.#options.requestTimeoutMs, `join ${room}`);
    const { lastEventId: since, epoch } = channel;
    // The epoch goes with the id it counts: the server compares ids only within one sequence.
    const position = since === undefined ? {} : epoch === undefined ? { since } : { since, epoch };
    this.#joins.set(ref, channel);
    this.#write(link, { type: 'join', ref, room, ...position });
    try {
      await answer;
    } catch (error) {
      this.#joinFailed(channel, link, error);
    } finally {
      this.#joins.delete(ref);
    }
  }

  #joinFailed(channel: RoomChannel, link: Link, error: unknown): void {
    if (error instanceof ServerError) {
      if (this.#rooms.get(channel.name) === channel) this.#rooms.delete(channel.name);
      channel.fail(error);
    } else if (error instanceof RequestTimeoutError) {
      // A connection that cannot answer a join is not worth keeping: reconnect and try again.
      link.close(new ConnectionFailedError('A join got no answer', { cause: error }));
    }
    // DisconnectedError: the room is rejoined on the next connection.
  }

  #onFrame(link: Link, frame: ServerFrame): void {
    if (link !== this.#link) return;
    if (this.#calls.receive(link, frame)) return;
    switch (frame.type) {
      case 'event': {
        const channel = this.#rooms.get(frame.room);
        if (channel === undefined) return;
        channel.receive(frame.event);
        if (channel.ended) this.#rooms.delete(frame.room);
        return;
      }
      case 'gap':
        this.#rooms.get(frame.room)?.gap(frame);
        return;
      case 'direct':
        this.#inbox.receive(link, frame);
        return;
      case 'signal':
        if (this.#rooms.has(frame.room)) this.#signals.next({ room: frame.room, from: frame.from, data: frame.data });
        return;
      case 'ok': {
        // Before the replay that follows it: the join's answer positions the room (epoch, last id)
        // and tells replayed events from live ones.
        const joining = this.#joins.get(frame.ref);
        if (joining !== undefined) {
          this.#joins.delete(frame.ref);
          if (this.#rooms.get(joining.name) === joining) joining.answered(frame);
        }
        this.#pending.settle(frame);
        return;
      }
      case 'response':
      case 'error':
        if (!this.#pending.settle(frame) && frame.type === 'error') this.#errors.next(errorFromWire(frame));
        return;
      default:
        return;
    }
  }

  #onEnd(link: Link, error: ClientError): void {
    if (link !== this.#link) return;
    this.#link = undefined;
    this.#ready = false;
    this.#pending.rejectSentOn(link, new DisconnectedError('The connection dropped before the answer', { cause: error }));
    this.#calls.linkEnded(link, error);
    if (this.#closed) {
      this.#linkGone?.();
      return;
    }
    this.#lost(error);
  }

  /** A connection ended or could not be made: report it, then retry or give up. */
  #lost(error: ClientError): void {
    if (this.#reconnectNow) {
      this.#reconnectNow = false;
      this.#setState('reconnecting');
      this.#connect(true);
      return;
    }
    this.#errors.next(error);
    const backoff = this.#options.reconnect;
    const fatal = error instanceof ServerError && (isFatalCode(error.code) || isRefusedHello(error));
    if (fatal || backoff === false || this.#attempt >= backoff.maxAttempts) {
      this.#shutdown(error, error);
      return;
    }
    this.#setState('reconnecting');
    // Offline (browsers): no attempt is spent until the platform is online again.
    if (this.#waitForOnline()) return;
    const delay = backoffDelay(this.#attempt, backoff, this.#options.timers.random());
    this.#attempt++;
    this.#reconnectTimer = this.#options.timers.setTimeout(() => this.#connect(), delay);
  }

  /**
   * With `waitForOnline`, while the platform says it is offline: waits for it to be online and
   * then connects at once with the backoff reset. @returns whether it waits
   */
  #waitForOnline(): boolean {
    if (!this.#options.waitForOnline) return false;
    this.#stopWaiting();
    return this.#online.start(() => {
      if (this.#closed) return;
      this.#attempt = 0;
      this.#connect();
    });
  }

  #stopWaiting(): void {
    if (this.#reconnectTimer !== undefined) this.#options.timers.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#online.cancel();
  }

  /** Ends everything: pending requests and the buffer fail, rooms complete (or fail with `roomError`). */
  #shutdown(requestError: Error, roomError: Error | undefined): void {
    this.#closed = true;
    this.#ready = false;
    this.#stopWaiting();
    // Frames never written are discarded (safe to send again); those written and still waiting
    // fail with the closing reason before the link's end could call them disconnected.
    this.#closeReason = requestError;
    this.#buffer.discardAll('closed');
    this.#pending.rejectAll(requestError);
    this.#calls.shutdown(requestError);
    this.#link?.close();
    const rooms = [...this.#rooms.values()];
    this.#rooms.clear();
    for (const channel of rooms) {
      if (roomError === undefined) channel.end();
      else channel.fail(roomError);
    }
    this.#setState('disconnected');
    this.#state.complete();
    this.#carrier.complete();
    this.#errors.complete();
    this.#direct.complete();
    this.#signals.complete();
    this.#discarded.complete();
    this.#drainCheck?.();
  }

  #channel(room: string, since: number | undefined, epoch: string | undefined): RoomChannel {
    const existing = this.#rooms.get(room);
    if (existing !== undefined) return existing;
    const channel = new RoomChannel(room, since, epoch);
    this.#rooms.set(room, channel);
    const link = this.#link;
    if (link?.ready) void this.#sendJoin(channel, link);
    return channel;
  }

  #release(channel: RoomChannel): void {
    channel.subscribers--;
    if (channel.subscribers > 0 || this.#rooms.get(channel.name) !== channel) return;
    this.#rooms.delete(channel.name);
    channel.end();
    const link = this.#link;
    if (link?.ready) this.#write(link, { type: 'leave', room: channel.name });
  }

  /** Sends now, or keeps in the send buffer; `again`: a frame sent before (after `RATE_LIMITED`), also taken while draining. */
  #send(frame: ClientFrame, onDiscard?: DiscardCallback, again = false): SendResult {
    if (onDiscard !== undefined) this.#onDiscard.set(frame, onDiscard);
    if (this.#closed || (this.#draining && !again)) {
      this.#discard(frame, 'closed');
      return 'discarded';
    }
    const link = this.#link;
    if (this.#ready && link !== undefined) {
      this.#write(link, frame);
      return 'sent';
    }
    return this.#buffer.push(frame);
  }

  /** Sends a frame that carries a `ref` and resolves with the event id the server's `ok` names. */
  #sendAcked(frame: PublishFrame | DirectSendFrame, timeoutMs: number, what: string): PendingSend<number | undefined> {
    // The entry exists before the send: a discard (full, closed) rejects it at once.
    const answer = this.#pending.open(frame.ref as Ref, timeoutMs, what, 'sent', () => this.#send(frame, undefined, true));
    const status = this.#send(frame);
    return Object.assign(answer.then(committedId), { status });
  }

  #timeoutOf(value: number | undefined): number {
    const timeoutMs = value ?? this.#options.requestTimeoutMs;
    if (!(typeof timeoutMs === 'number' && timeoutMs > 0)) {
      throw new InvalidArgumentError(`Expected options.timeoutMs to be a number > 0, got ${describe(timeoutMs)}`);
    }
    return timeoutMs;
  }

  #write(link: Link, frame: ClientFrame): void {
    // Marked first: a write the carrier refuses ends the link inside `send`, and the answers
    // awaited on that link must fail with it.
    if ('ref' in frame && frame.ref !== undefined) this.#pending.markSent(frame.ref, link);
    link.send(frame);
    this.#calls.written(frame, link);
  }

  #discard(frame: ClientFrame, reason: DiscardReason): void {
    if ('ref' in frame && frame.ref !== undefined) {
      const cause = reason === 'closed' ? this.#closeReason : undefined;
      const error = new SendDiscardedError(reason, undefined, cause === undefined ? undefined : { cause });
      this.#pending.reject(frame.ref, error);
      this.#calls.discarded(frame.ref, error);
    }
    const discarded: Discarded = { frame, reason };
    this.#onDiscard.discarded(frame, reason);
    this.#options.onDiscard?.(discarded);
    this.#discarded.next(discarded);
    this.#drainCheck?.();
  }

  #setState(state: ConnectionState): void {
    if (this.#state.value !== state && !this.#state.closed) this.#state.next(state);
  }
}
