import { Observable, Subject } from 'rxjs';
import { CommitPipeline, PIPELINE_DEPTH, type CommitBatch } from './commit-pipeline.js';
import {
  failEffects,
  FX_ACK,
  FX_CLOSE,
  FX_COMPLETE,
  FX_DETACH,
  FX_EVENT,
  FX_FAIL,
  FX_JOINED,
  FX_ONE,
  FX_QUERY,
  FX_STRIDE,
  type Deferred,
} from './effects.js';
import { AppendLedger, P_ADD, P_CLOSE, P_REMOVE, P_SEND, W_CLOSE, W_DETACH, W_QUERY, type Pending } from './append-ledger.js';
import {
  AlreadyExistsError,
  BufferOverflowError,
  ClosedError,
  HubError,
  InvalidArgumentError,
  ListenerError,
  NotFoundError,
  StoreError,
  UnencodableError,
} from './errors.js';
import { isVisibleTo, type GapNotice, type HubEvent, type SessionEvent } from './event.js';
import { HistoryRing } from './history.js';
import { ListenerSlot, type HubListener, type HubListenerFunction } from './listener.js';
import { Mailbox, type CommandHandler } from './mailbox.js';
import { describe, resolveOptions, type MessageHubOptions, type PresenceEvents, type ResolvedOptions } from './options.js';
import { Session } from './session.js';
import { randomId, type RoomFollower, type RoomState, type RoomStore } from './store.js';

// Mailbox commands. Arguments travel in the flat slots a, b, c.
const OP_ADD = 0; // a: Session, b: AddOptions
const OP_REMOVE = 1; // a: userId, b: sessionId, c: Deferred
const OP_SEND = 2; // a: from | undefined, b: to | undefined, c: payload
const OP_QUERY = 3; // a: () => R, b: resolve, c: reject
const OP_ATTACH = 4; // a: ListenerSlot
const OP_DETACH = 5; // a: ListenerSlot, b: resolve
const OP_CLOSE = 6;
const OP_OPEN = 7; // a: Promise<RoomState>
const OP_PUBLISH = 8; // a: PublishOptions, b: payload, c: Deferred<number>
const OP_EVENTS = 9; // a: committed events, b: their JSON text (a sequencing store)
const OP_FOLLOW_FAILED = 10; // a: why the store cannot go on following the room
const OP_OVERFLOWED = 11; // sessions overflowed while a committed batch was delivered: they leave


const RESOLVED: Promise<void> = Promise.resolve();

/** Lifecycle of a hub: `running` until `close()`, `closing` until every listener is flushed. */
export type HubStatus = 'running' | 'closing' | 'closed';

/** Where a session entered the room's sequence. See {@link AddOptions.onJoined}. */
export interface JoinPosition {
  /** The epoch of the room's sequence. */
  readonly epoch: string;
  /**
   * The id of the room's last event before the session's own `join`/`add` (or, in a room with
   * `presenceEvents: 'none'`, before the session entered): the session sees every event after it.
   */
  readonly lastEventId: number;
}

/** Options of {@link MessageHub.add}. */
export interface AddOptions {
  /**
   * Resume: replay the room's events after this id (those the user may see) before the session's
   * own `join`/`add`. When the history no longer reaches back, a {@link GapNotice} comes first.
   */
  since?: number;
  /**
   * The epoch `since` belongs to. When it is not the room's, the sequence started again: the
   * stream begins with a `reset` gap and the room's kept history from its oldest event.
   */
  epoch?: string;
  /**
   * Called once the session is in the room, before its stream carries anything: the epoch and the
   * room's last id before the session's own `join`/`add`.
   */
  onJoined?: (position: JoinPosition) => void;
}

/** Options of {@link MessageHub.publish}. */
export interface PublishOptions {
  /** The sender; absent for a system message. */
  readonly from?: string;
  /** The recipient of a whisper; absent for a broadcast. */
  readonly to?: string;
}

/** One user in the room and how many sessions it has. */
export interface PresenceEntry {
  readonly userId: string;
  readonly sessions: number;
}

/** A snapshot of the hub's counters and buffer levels, for metrics. */
export interface HubStats {
  readonly status: HubStatus;
  /** The id of the latest committed event. */
  readonly lastEventId: number;
  readonly users: number;
  readonly sessions: number;
  /** Commands accepted and waiting in the mailbox. */
  readonly mailbox: number;
  /** Commands waiting for room in the mailbox (their callers hold pending promises). */
  readonly parked: number;
  /** Events buffered per attached listener, in attach order. */
  readonly listenerBuffers: readonly number[];
  readonly history: number;
  /** Batches committed to the store, and events in them. */
  readonly commits: number;
  readonly committedEvents: number;
}

/** Returned by {@link MessageHub.attachListener}. */
export interface ListenerHandle {
  /**
   * Stops delivery after the events already accepted by the room, waits until the listener has
   * handled them, runs its `complete`, then resolves. Idempotent.
   */
  detach(): Promise<void>;
}


function checkId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
  }
}

function isPromiseLike<V>(value: V | PromiseLike<V>): value is PromiseLike<V> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * One chat room, run as an actor. Every change goes through one mailbox, drained by one loop;
 * everything that happens comes out as events with ids 1, 2, 3, ... that every session stream,
 * listener and the history observe in the same order.
 *
 * The room's sequence lives in its {@link RoomStore}. Each drained batch of commands is committed
 * there with one `append` before any of its events reaches a session or a listener and before any
 * `publish()` resolves: what somebody has seen is never taken back by a crash the store survives.
 *
 * A store that sequences rooms itself (`store.sequences`, the cluster) gives the ids: the hub appends
 * what its commands produce and delivers events, its own among those of every other node, only as
 * they come back from `store.follow`, in the store's order. `publish()` resolves with the id the
 * store gave, `presence()` and `isOnline()` answer for every node, and `close()` ends this hub's part
 * in the room (see `RoomStore.sequences`).
 *
 * @example
 * const hub = new MessageHub({ chatroomId: 'lobby' });
 * hub.add('ada', 'tab-1').subscribe((event) => console.log(event.type, event.id));
 * const id = await hub.publish('hello', { from: 'ada' }); // committed and delivered
 * await hub.close();
 */
export class MessageHub<T = string> {
  /** The room's id, as in every event's `chatroomId`. */
  readonly chatroomId: string;
  /** Resolves (never rejects) once the hub is closed and every listener is flushed. */
  readonly closed: Promise<void>;

  readonly #options: ResolvedOptions<T>;
  /** Undefined when the hub keeps its sequence itself (no `store` given): nothing to commit to. */
  readonly #store: RoomStore | undefined;
  readonly #encodes: boolean;
  readonly #mailbox: Mailbox;
  readonly #history: HistoryRing<T>;
  readonly #errors = new Subject<HubError>();
  /** Live sessions in join order, for fan-out. Replaced, never mutated. */
  #sessions: Session<T>[] = [];
  readonly #users = new Map<string, Map<string, Session<T>>>();
  /** Attached listeners, in attach order. Replaced, never mutated. */
  #listeners: ListenerSlot<T>[] = [];
  #epoch = '';
  /** The id of the latest staged event (committed or about to be). */
  #lastId = 0;
  /** The id of the latest committed event. */
  #committedId = 0;
  #commits = 0;
  #committedEvents = 0;
  #now = 0;
  #status: HubStatus = 'running';
  /** The room's `close` event is staged: nothing joins or happens after it. */
  #ended = false;
  /** Why the room stopped, when its store failed. */
  #failure: StoreError | undefined;
  #closing: Promise<void> | undefined;
  #resolveClosed!: () => void;
  /** Events of the current batch, waiting for their commit, and their JSON text. */
  #staged: HubEvent<T>[] = [];
  #stagedCount = 0;
  #lines: string[] = [];
  /** Effects of the current batch, flat (see FX_*), and a spare buffer swapped per batch. */
  #fx: unknown[] = [];
  #fxLength = 0;
  #fxSpare: unknown[] = [];
  /** Without a store: what the current command must wait for (a full listener, the close's flush). */
  #waits: Promise<void>[] = [];
  /** The event being fanned out and its JSON text, for {@link encoded}. */
  #current: HubEvent<T> | undefined;
  #currentLine: string | undefined;
  /** Listeners that reached their bound while fanning out the current batch. */
  #full: ListenerSlot<T>[] = [];
  /** Sessions whose keep-buffer overflowed while fanning out the current batch. */
  #overflowed: Session<T>[] = [];
  /**
   * The store sequences the room across processes (the cluster): this hub appends what its
   * commands produce, and delivers events, its own among everybody else's, only as they come back
   * from `store.follow`. The fields below serve this mode only.
   */
  readonly #sequenced: boolean;
  /** What this hub's appended events stand for, and what waits for which id. */
  readonly #ledger = new AppendLedger();
  /** Sessions whose join is appended but not delivered yet: user id → session id → session. */
  readonly #joining = new Map<string, Map<string, Session<T>>>();
  /** Sessions whose removal is asked for. */
  readonly #leaving = new Set<Session<T>>();
  /** Who is in the room on every node, in the order they joined, from the store and the events. */
  readonly #members = new Map<string, number>();
  #unfollow: (() => void) | undefined;
  /** With a store that does not sequence: batches appended ahead of delivery (see CommitPipeline). */
  readonly #pipeline: CommitPipeline | undefined;

  /** @throws {InvalidOptionError} when an option has the wrong type or range */
  constructor(options: MessageHubOptions<T>) {
    this.#options = resolveOptions(options);
    this.chatroomId = this.#options.chatroomId;
    this.#store = this.#options.store;
    this.#sequenced = this.#store?.sequences === true;
    this.#encodes = this.#options.encode ?? this.#store?.encodes ?? false;
    this.#history = new HistoryRing<T>(this.#options.historySize);
    this.#pipeline =
      this.#store === undefined || this.#sequenced ? undefined : new CommitPipeline(PIPELINE_DEPTH, this.#deliverBatch, this.#failBatches);
    // The handler is a method the closure forwards to: the method's code is shared by every room.
    const handle: CommandHandler = (op, a, b, c) => this.#handle(op, a, b, c);
    this.#mailbox = new Mailbox(this.#options.mailboxSize, handle, this.#tick, this.#commit, mailboxOnFault);
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    const store = this.#store;
    let state: RoomState<T> | PromiseLike<RoomState<T>>;
    if (store === undefined) {
      const seed = this.#options.seed;
      state = { epoch: seed?.epoch ?? randomId(), lastEventId: seed?.lastEventId ?? 0, history: seed?.history ?? [] };
    } else {
      try {
        state = store.open<T>(this.chatroomId, { historySize: this.#options.historySize });
      } catch (error) {
        state = Promise.reject(error);
      }
    }
    if (isPromiseLike(state)) void this.#mailbox.post(OP_OPEN, state);
    else this.#opened(state);
  }

  /** `running`, `closing` (after `close()`, until flushed) or `closed`. */
  get status(): HubStatus {
    return this.#status;
  }

  /** The id of the latest committed event, the last one sessions may have seen (0 before the first). */
  get lastEventId(): number {
    return this.#committedId;
  }

  /** The epoch of the room's sequence ('' until the store has opened the room). */
  get epoch(): string {
    return this.#epoch;
  }

  /** Whether sessions entering and leaving are announced as events (see `MessageHubOptions.presenceEvents`). */
  get presenceEvents(): PresenceEvents {
    return this.#options.presenceEvents;
  }

  /** The store that failed, when the room stopped because of it. */
  get failure(): StoreError | undefined {
    return this.#failure;
  }

  /** Errors with no caller to go to (a listener that threw). See `onError`. */
  get errors(): Observable<HubError> {
    return this.#errors.asObservable();
  }

  /**
   * Adds a session to the room and returns its event stream. The stream starts with the
   * session's own `join` (the user's first session) or `add`, misses nothing after it even if
   * subscribed later, and completes after the session's `remove`/`leave` or the room's `close`.
   * In a room with `presenceEvents: 'none'` there is no `join`/`add`/`remove`/`leave`: the stream
   * carries the room's events after the session entered, and completes when it is removed.
   * It errors with `ALREADY_EXISTS` for a duplicate (user, session) and `CLOSED` after `close()`.
   *
   * @param userId a non-empty string
   * @param sessionId a non-empty string, unique per user
   * @throws {InvalidArgumentError} for an empty or non-string id or a bad `since`
   */
  add(userId: string, sessionId: string): Observable<HubEvent<T>>;
  add(userId: string, sessionId: string, options: AddOptions): Observable<SessionEvent<T>>;
  add(userId: string, sessionId: string, options: AddOptions = {}): Observable<SessionEvent<T>> {
    checkId('userId', userId);
    checkId('sessionId', sessionId);
    const { since, epoch, onJoined } = options;
    if (since !== undefined && (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)) {
      throw new InvalidArgumentError(`Expected \`since\` to be an integer >= 0, got ${describe(since)}`);
    }
    if (epoch !== undefined && typeof epoch !== 'string') {
      throw new InvalidArgumentError(`Expected \`epoch\` to be a string, got ${describe(epoch)}`);
    }
    if (onJoined !== undefined && typeof onJoined !== 'function') {
      throw new InvalidArgumentError(`Expected \`onJoined\` to be a function, got ${describe(onJoined)}`);
    }
    const session = new Session<T>(userId, sessionId, this.#options.sessionBufferSize);
    if (this.#status !== 'running') session.fail(this.#closedError());
    else void this.#mailbox.post(OP_ADD, session, options);
    return session.stream;
  }

  /**
   * Removes a session: the room sees `remove`, or `leave` for the user's last session, and the
   * session's stream completes after it (with `presenceEvents: 'none'` nobody sees anything).
   *
   * @returns resolves once removed; rejects with `NOT_FOUND` or `CLOSED`
   * @throws {InvalidArgumentError} for an empty or non-string id
   */
  remove(userId: string, sessionId: string): Promise<void> {
    checkId('userId', userId);
    checkId('sessionId', sessionId);
    if (this.#status !== 'running') return Promise.reject(this.#closedError());
    return new Promise<void>((resolve, reject) => {
      void this.#mailbox.post(OP_REMOVE, userId, sessionId, { resolve, reject });
    });
  }

  /**
   * Sends a message and resolves with its id once the store has committed it and every session
   * has been handed it: the acknowledged form of {@link message}, {@link whisper} and {@link system}.
   *
   * @param payload the message; with an encoding store it must be JSON-encodable
   * @param options `from` (the sender; none for a system message), `to` (a whisper's recipient)
   * @returns the committed event id. Rejects with `UNENCODABLE` (no id was used), `CLOSED`, or
   *   `STORE_FAILED` (the outcome is unknown).
   * @throws {InvalidArgumentError} for an empty or non-string `from` or `to`
   */
  publish(payload: T, options: PublishOptions = {}): Promise<number> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(`Expected publish options to be an object, got ${describe(options)}`);
    }
    if (options.from !== undefined) checkId('from', options.from);
    if (options.to !== undefined) checkId('to', options.to);
    if (this.#status !== 'running') return Promise.reject(this.#closedError());
    return new Promise<number>((resolve, reject) => {
      void this.#mailbox.post(OP_PUBLISH, options, payload, { resolve, reject });
    });
  }

  /**
   * Broadcasts a message from `userId` to every session.
   *
   * @returns resolves once the room has accepted the message: immediately while the mailbox has
   *   room, later when it is full (await it to slow down). On a closed hub it is a no-op. A
   *   payload that cannot be encoded is reported to `onError`; use {@link publish} to await the
   *   outcome and the id.
   * @throws {InvalidArgumentError} for an empty or non-string id
   */
  message(userId: string, payload: T): Promise<void> {
    checkId('userId', userId);
    return this.#send(userId, undefined, payload);
  }

  /** Sends a message from `userId` to the sessions of `toUserId` (and the sender's own). Like {@link message}. */
  whisper(userId: string, toUserId: string, payload: T): Promise<void> {
    checkId('userId', userId);
    checkId('toUserId', toUserId);
    return this.#send(userId, toUserId, payload);
  }

  /** A message with no sender to every session. Like {@link message}. */
  system(payload: T): Promise<void> {
    return this.#send(undefined, undefined, payload);
  }

  /** A message with no sender to the sessions of `toUserId`. Like {@link message}. */
  systemWhisper(toUserId: string, payload: T): Promise<void> {
    checkId('toUserId', toUserId);
    return this.#send(undefined, toUserId, payload);
  }

  /**
   * The latest events (up to `historySize`), oldest first, as of the moment the room handles
   * the request: everything sent before the subscription is included. Completes after the last.
   */
  history(): Observable<HubEvent<T>> {
    return new Observable<HubEvent<T>>((subscriber) => {
      const emit = (events: HubEvent<T>[]): void => {
        for (const event of events) {
          if (subscriber.closed) return;
          subscriber.next(event);
        }
        subscriber.complete();
      };
      this.#postQuery(() => this.#history.toArray(), emit, (e: unknown) => subscriber.error(e));
    });
  }

  /** {@link history} as one awaited array. */
  getHistory(): Promise<HubEvent<T>[]> {
    return this.#query(() => this.#history.toArray());
  }

  /**
   * The room's committed events after `since`, oldest first, at most `limit`, read from its store
   * (which may keep more than the in-memory history). Does not go through the room's mailbox.
   */
  read(since = 0, limit?: number): Promise<HubEvent<T>[]> {
    if (!Number.isSafeInteger(since) || since < 0) {
      throw new InvalidArgumentError(`Expected \`since\` to be an integer >= 0, got ${describe(since)}`);
    }
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new InvalidArgumentError(`Expected \`limit\` to be an integer >= 0, got ${describe(limit)}`);
    }
    if (this.#store === undefined) {
      return this.#query(() => {
        const events = this.#history.after(since);
        return limit === undefined ? events : events.slice(0, limit);
      });
    }
    return this.#store.read<T>(this.chatroomId, since, limit);
  }

  /** The users in the room with their session counts, in the order they joined. */
  presence(): Promise<PresenceEntry[]> {
    if (this.#sequenced) return this.#query(() => Array.from(this.#members, ([userId, sessions]) => ({ userId, sessions })));
    return this.#query(() =>
      Array.from(this.#users, ([userId, sessions]) => ({ userId, sessions: sessions.size })),
    );
  }

  /** Whether `userId` has at least one session in the room. */
  isOnline(userId: string): Promise<boolean> {
    checkId('userId', userId);
    return this.#query(() => (this.#sequenced ? this.#members.has(userId) : this.#users.has(userId)));
  }

  /**
   * The JSON text of `event` while the room is handing it out (an encoding hub encodes each event
   * once; a transport frames these bytes for every socket instead of encoding again), else
   * undefined.
   */
  encoded(event: HubEvent<T>): string | undefined {
    return event === this.#current ? this.#currentLine : undefined;
  }

  /**
   * Attaches a listener that receives every event from now on, in order, exactly once, `close`
   * included. An async listener gets `listenerBufferSize` events of slack; when it is full the
   * room waits for it (publishers are slowed through the mailbox), nothing is dropped. A
   * listener that throws or rejects stays attached; the error goes to `onError` / `errors`.
   *
   * @throws {ClosedError} when the hub is closing or closed
   */
  attachListener(listener: HubListener<T> | HubListenerFunction<T>): ListenerHandle {
    if (this.#status !== 'running') throw this.#closedError();
    const target: HubListener<T> = typeof listener === 'function' ? { next: listener } : listener;
    if (typeof target !== 'object' || target === null || typeof target.next !== 'function') {
      throw new InvalidArgumentError(`Expected a listener function or an object with next(), got ${describe(listener)}`);
    }
    const slot = new ListenerSlot<T>(target, this.#options.listenerBufferSize, this.#report);
    void this.#mailbox.post(OP_ATTACH, slot);
    let detached: Promise<void> | undefined;
    return {
      detach: () =>
        (detached ??= new Promise<void>((resolve) => {
          void this.#mailbox.post(OP_DETACH, slot, resolve);
        })),
    };
  }

  /** A snapshot of counters and buffer levels. */
  stats(): HubStats {
    return {
      status: this.#status,
      lastEventId: this.#committedId,
      users: this.#users.size,
      sessions: this.#sessions.length,
      mailbox: this.#mailbox.size,
      parked: this.#mailbox.parked,
      listenerBuffers: this.#listeners.map((slot) => slot.buffered),
      history: this.#history.size,
      commits: this.#commits,
      committedEvents: this.#committedEvents,
    };
  }

  /**
   * Closes the room after everything sent before this call: emits `close` to every session and
   * listener, completes every stream, waits for every listener to flush and complete, then
   * resolves. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#status === 'running') this.#status = 'closing';
    void this.#mailbox.post(OP_CLOSE);
    this.#closing = this.closed;
    return this.#closing;
  }

  #closedError(): HubError {
    return this.#failure ?? new ClosedError(`Room ${this.chatroomId} is closed`);
  }

  #send(from: string | undefined, to: string | undefined, payload: T): Promise<void> {
    if (this.#status !== 'running') return RESOLVED;
    return this.#mailbox.post(OP_SEND, from, to, payload);
  }

  #query<R>(read: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#postQuery(read, resolve, reject);
    });
  }

  #postQuery<R>(read: () => R, resolve: (value: R) => void, reject: (error: unknown) => void): void {
    if (this.#status === 'closed') {
      // A closed room answers at once: nothing will change any more.
      try {
        resolve(read());
      } catch (error) {
        reject(error);
      }
      return;
    }
    void this.#mailbox.post(OP_QUERY, read, resolve, reject);
  }

  readonly #tick = (): void => {
    this.#now = this.#options.clock();
  };

  #opened(state: RoomState<T>): void {
    this.#epoch = state.epoch;
    this.#lastId = this.#committedId = state.lastEventId;
    const history = state.history;
    const keep = this.#options.historySize;
    for (let i = Math.max(0, history.length - keep); i < history.length; i++) this.#history.push(history[i] as HubEvent<T>);
    if (!this.#sequenced) return;
    this.#ledger.opened(state.lastEventId);
    for (const { userId, sessions } of state.members ?? []) this.#members.set(userId, sessions);
    const follower: RoomFollower<T> = {
      // Committed events never wait behind the commands that produce more: the store's window of
      // appended but unread events stays bounded by the store alone.
      events: (events, lines) => this.#mailbox.postNow(OP_EVENTS, events, lines),
      failed: (error) => void this.#mailbox.post(OP_FOLLOW_FAILED, error),
    };
    this.#unfollow = (this.#store as Required<RoomStore>).follow<T>(this.chatroomId, state.lastEventId, follower);
  }

  /**
   * The drain loop's handler: the only place room state changes. A method rather than a closure
   * per hub, so that its optimised code reads the hub's fields without checking which class
   * scope they come from.
   */
  #handle(op: number, a: unknown, b: unknown, c: unknown): void | Promise<void> {
    if (this.#store === undefined) {
      // Immediate mode, the common case first: a message delivered in place, nothing to settle
      // unless a listener filled up or a session overflowed.
      if (op === OP_SEND && !this.#encodes) {
        return this.#sendNow(a as string | undefined, b as string | undefined, c as T) ? this.#settleNow(undefined) : undefined;
      }
      return this.#settleNow(this.#command(op, a, b, c));
    }
    if (this.#failure !== undefined) return this.#refuse(op, a, b, c);
    return this.#command(op, a, b, c);
  }

  /** Without a store effects happened already: settles what they left before the next command. */
  #settleNow(wait: void | Promise<void>): void | Promise<void> {
    if (this.#full.length > 0) this.#waitForFull();
    this.#current = undefined;
    this.#currentLine = undefined;
    while (this.#overflowed.length > 0) this.#dropOverflowed();
    const waits = this.#waits;
    if (waits.length === 0) return wait;
    this.#waits = [];
    if (wait !== undefined) waits.push(wait);
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(noop);
  }

  /**
   * A message without a store and without encoding: its id, the history, and out it goes to its
   * recipients and the listeners, as the command is handled (what {@link #onSend} and
   * {@link #stage} do for it, without the steps that do not apply).
   * @returns true when a listener filled up or a session overflowed: the room settles that first
   */
  #sendNow(from: string | undefined, to: string | undefined, message: T): boolean {
    const id = this.#lastId + 1;
    const event = this.#messageEvent(id, from, to, message);
    this.#lastId = id;
    this.#committedId = id;
    this.#stagedCount++;
    this.#history.push(event);
    return this.#fanOut(event, to === undefined ? this.#sessions : this.#recipients(to, from), this.#listeners, undefined);
  }

  /** Listeners that reached their bound: the room waits for them before the next command. */
  #waitForFull(): void {
    const full = this.#full;
    this.#full = [];
    this.#waits.push(Promise.all(full.map((slot) => slot.whenRoom())).then(noop));
  }

  #messageEvent(id: number, from: string | undefined, to: string | undefined, message: T): HubEvent<T> {
    const chatroomId = this.chatroomId;
    const unixTime = this.#now;
    if (to !== undefined) {
      return from === undefined
        ? { id, chatroomId, type: 'message', to, message, unixTime }
        : { id, chatroomId, type: 'message', userId: from, to, message, unixTime };
    }
    return from === undefined
      ? { id, chatroomId, type: 'message', message, unixTime }
      : { id, chatroomId, type: 'message', userId: from, message, unixTime };
  }

  #command(op: number, a: unknown, b: unknown, c: unknown): void | Promise<void> {
    switch (op) {
      case OP_SEND:
        this.#onSend(a as string | undefined, b as string | undefined, c as T, undefined);
        return undefined;
      case OP_PUBLISH: {
        const { from, to } = a as PublishOptions;
        this.#onSend(from, to, b as T, c as Deferred<number>);
        return undefined;
      }
      case OP_ADD:
        return this.#onAdd(a as Session<T>, b as AddOptions);
      case OP_REMOVE:
        this.#onRemove(a as string, b as string, c as Deferred);
        return undefined;
      case OP_QUERY:
        if (this.#sequenced) this.#wait(W_QUERY, a, b, c);
        else this.#effect(FX_QUERY, a, b, c);
        return undefined;
      case OP_ATTACH:
        this.#listeners = [...this.#listeners, a as ListenerSlot<T>];
        return undefined;
      case OP_DETACH:
        this.#onDetach(a as ListenerSlot<T>, b as () => void);
        return undefined;
      case OP_CLOSE:
        this.#onClose();
        return undefined;
      case OP_OPEN:
        return (a as Promise<RoomState<T>>).then(
          (state) => this.#opened(state),
          (error: unknown) => this.#fail(new StoreError(`The store cannot open room ${this.chatroomId}`, { cause: error })),
        );
      case OP_EVENTS:
        this.#onCommitted(a as readonly HubEvent<T>[], b as readonly string[]);
        return undefined;
      case OP_OVERFLOWED:
        this.#dropOverflowed();
        return undefined;
      case OP_FOLLOW_FAILED:
        return this.#fail(new StoreError(`The store cannot go on following room ${this.chatroomId}`, { cause: a }));
      default:
        return undefined;
    }
  }

  /** After the store failed: every command gets the failure, nothing changes. */
  #refuse(op: number, a: unknown, b: unknown, c: unknown): void {
    const failure = this.#failure as StoreError;
    if (op === OP_PUBLISH || op === OP_REMOVE) (c as Deferred<unknown>).reject(failure);
    else if (op === OP_ADD) (a as Session<T>).fail(failure);
    else if (op === OP_QUERY) {
      try {
        (b as (value: unknown) => void)((a as () => unknown)());
      } catch (error) {
        (c as (error: unknown) => void)(error);
      }
    } else if (op === OP_DETACH) (b as () => void)();
    else if (op === OP_SEND) this.#report(failure);
  }

  #effect(kind: number, a: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    if (this.#store === undefined) {
      // Nothing to commit to: the effect happens now, as the command is handled.
      const wait = this.#exec(kind, a, b, c, d);
      if (wait !== undefined) this.#waits.push(wait);
      return;
    }
    const fx = this.#fx;
    const at = this.#fxLength;
    fx[at] = kind;
    fx[at + 1] = a;
    fx[at + 2] = b;
    fx[at + 3] = c;
    fx[at + 4] = d;
    this.#fxLength = at + FX_STRIDE;
  }

  #onSend(from: string | undefined, to: string | undefined, message: T, ack: Deferred<number> | undefined): void {
    // A sequencing store gives the id; until then it is a placeholder.
    const id = this.#sequenced ? 0 : this.#lastId + 1;
    const event = this.#messageEvent(id, from, to, message);
    let line: string | undefined;
    if (this.#encodes) {
      try {
        line = JSON.stringify(event);
      } catch (error) {
        // Refused before it got its id: the next event takes the same id, so nobody sees a hole.
        const refusal = new UnencodableError(`A message in room ${this.chatroomId} cannot be written as JSON`, { cause: error });
        if (ack === undefined) this.#report(refusal);
        else ack.reject(refusal);
        return;
      }
    }
    if (this.#sequenced) {
      this.#submit(event, line, P_SEND, ack);
      return;
    }
    this.#lastId = id;
    if (to === undefined) this.#stage(event, this.#sessions, line);
    else this.#stage(event, this.#recipients(to, from), line);
    if (ack !== undefined) this.#effect(FX_ACK, ack, id);
  }

  /** The sessions of a whisper's two ends. */
  #recipients(to: string, from: string | undefined): Session<T>[] {
    const recipients: Session<T>[] = [];
    const own = this.#users.get(to);
    if (own !== undefined) for (const session of own.values()) recipients.push(session);
    if (from !== undefined && from !== to) {
      const sender = this.#users.get(from);
      if (sender !== undefined) for (const session of sender.values()) recipients.push(session);
    }
    return recipients;
  }

  /** Records `event` in the history and the batch; it reaches `recipients` and the listeners after the commit. */
  #stage(event: HubEvent<T>, recipients: readonly Session<T>[], line?: string): void {
    this.#history.push(event);
    this.#stagedCount++;
    const text = this.#encodes ? (line ?? JSON.stringify(event)) : undefined;
    if (this.#store === undefined) {
      // Without a store an event is as committed as it gets once it has its id: out it goes.
      this.#committedId = event.id;
      this.#fanOut(event, recipients, this.#listeners, text);
      if (this.#full.length > 0) this.#waitForFull();
      return;
    }
    this.#staged.push(event);
    if (text !== undefined) this.#lines.push(text);
    this.#effect(FX_EVENT, event, recipients, this.#listeners, text);
  }

  #onAdd(session: Session<T>, options: AddOptions): void | Promise<void> {
    const { userId, sessionId } = session;
    if (this.#ended) {
      session.fail(this.#closedError());
      return undefined;
    }
    if (this.#sequenced) {
      this.#requestAdd(session, options);
      return undefined;
    }
    if (this.#users.get(userId)?.has(sessionId) === true) {
      session.fail(new AlreadyExistsError(`Session ${sessionId} of user ${userId} is already in room ${this.chatroomId}`));
      return undefined;
    }
    const { since, epoch } = options;
    const store = this.#store;
    const oldest = this.#history.oldestId ?? this.#lastId + 1;
    if (store !== undefined && since !== undefined && (epoch === undefined || epoch === this.#epoch) && since + 1 < oldest && since < this.#lastId) {
      // The in-memory history no longer reaches back to `since`: the room waits while it reads what
      // its store still keeps, so the session misses nothing the store has.
      const admit = (older: readonly HubEvent<T>[]): void => {
        if (this.#failure !== undefined) session.fail(this.#failure);
        else this.#admit(session, options, older.filter((e) => e.id < oldest));
      };
      // Batches in flight are not in the store yet: the read waits for them, so it misses none.
      const settled = this.#pipeline === undefined ? Promise.resolve() : this.#pipeline.whenIdle();
      return settled
        .then(() => store.read<T>(this.chatroomId, since, oldest - 1 - since))
        .then(admit, (error: unknown) => {
          this.#report(new StoreError(`The store failed to read room ${this.chatroomId} after ${since}`, { cause: error }));
          admit([]);
        });
    }
    this.#admit(session, options, []);
    return undefined;
  }

  /** Puts a checked session in the room: its replay (`older` read from the store first), then its own join/add. */
  #admit(session: Session<T>, options: AddOptions, older: readonly HubEvent<T>[]): void {
    const { userId, sessionId } = session;
    let own = this.#users.get(userId);
    if (options.onJoined !== undefined) {
      this.#effect(FX_JOINED, options.onJoined, { epoch: this.#epoch, lastEventId: this.#lastId });
    }
    if (options.since !== undefined) this.#replay(session, options.since, options.epoch, older);
    const type = own === undefined ? 'join' : 'add';
    if (own === undefined) {
      own = new Map();
      this.#users.set(userId, own);
    }
    own.set(sessionId, session);
    this.#sessions = [...this.#sessions, session];
    // Unannounced, the session is in the room from here on with no event and no id: it sees the
    // room's next event, and its `onJoined` named the id before it.
    if (this.#options.presenceEvents === 'all') this.#stage(this.#presenceEvent(type, userId, sessionId), this.#sessions);
  }

  /**
   * Hands a resuming session the history after `since` that it may see, or a gap notice first.
   * It is computed now, with this batch's earlier events in the history, and handed out after the commit.
   */
  #replay(session: Session<T>, since: number, epoch: string | undefined, older: readonly HubEvent<T>[]): void {
    const next = this.#lastId + 1;
    const oldest = older[0]?.id ?? this.#history.oldestId ?? next;
    let reason: GapNotice['reason'] | undefined;
    let resumeAt = next;
    let after = since;
    if (epoch !== undefined && epoch !== this.#epoch) {
      // Another sequence: start the session at the oldest event the room still has.
      reason = 'reset';
      resumeAt = oldest;
      after = 0;
    } else if (since >= next) reason = 'reset';
    else if (since + 1 < oldest) {
      reason = 'trimmed';
      resumeAt = oldest;
    }
    if (reason !== undefined) {
      const gap: GapNotice = { type: 'gap', chatroomId: this.chatroomId, since, resumeAt, reason, epoch: this.#epoch, unixTime: this.#now };
      this.#effect(FX_ONE, session, gap);
    }
    if (reason === 'reset' && after === since) return;
    for (const event of older) {
      if (isVisibleTo(event, session.userId)) this.#effect(FX_ONE, session, event);
    }
    for (const event of this.#history.after(after)) {
      if (isVisibleTo(event, session.userId)) this.#effect(FX_ONE, session, event);
    }
  }

  #onRemove(userId: string, sessionId: string, done: Deferred): void {
    if (this.#sequenced) {
      this.#requestRemove(userId, sessionId, done);
      return;
    }
    const own = this.#users.get(userId);
    const session = own?.get(sessionId);
    if (own === undefined || session === undefined) {
      done.reject(new NotFoundError(`Session ${sessionId} of user ${userId} is not in room ${this.chatroomId}`));
      return;
    }
    if (this.#options.presenceEvents === 'none') {
      // Unannounced: out of the room now; its stream completes after the events staged before.
      this.#unregister(session);
      this.#effect(FX_COMPLETE, session);
      this.#effect(FX_ACK, done, undefined);
      return;
    }
    const event = this.#presenceEvent(own.size > 1 ? 'remove' : 'leave', userId, sessionId);
    // The leaving session sees its own remove/leave, then its stream completes. It is out of the
    // room first, so that one event past its keep-buffer's bound cannot remove it a second time.
    this.#unregister(session);
    this.#effect(FX_ONE, session, event);
    this.#effect(FX_COMPLETE, session);
    this.#effect(FX_ACK, done, undefined);
    this.#stage(event, this.#sessions);
  }

  #onDetach(slot: ListenerSlot<T>, done: () => void): void {
    if (this.#sequenced) {
      this.#wait(W_DETACH, slot, done);
      return;
    }
    const before = this.#listeners;
    this.#listeners = before.filter((s) => s !== slot);
    // A listener closed with the room has already finished.
    if (this.#listeners.length === before.length) done();
    else this.#effect(FX_DETACH, slot, done);
  }

  #onClose(): void {
    if (this.#ended) return;
    if (this.#sequenced) {
      this.#ended = true;
      this.#submit({ id: 0, chatroomId: this.chatroomId, type: 'close', unixTime: this.#now }, undefined, P_CLOSE);
      this.#wait(W_CLOSE);
      return;
    }
    const event: HubEvent<T> = { id: ++this.#lastId, chatroomId: this.chatroomId, type: 'close', unixTime: this.#now };
    // Every session ends with `close`: one event past a keep-buffer's bound is kept, never turned
    // into a `leave` published after the room's last event.
    const sessions = this.#sessions;
    const listeners = this.#listeners;
    this.#ended = true;
    this.#stage(event, sessions);
    this.#sessions = [];
    this.#listeners = [];
    this.#users.clear();
    this.#effect(FX_CLOSE, sessions, listeners);
  }

  // ---- With a sequencing store (the cluster): append now, deliver as the store hands events back.

  /** Adds an event of this batch to the next append; `kind` says what it stands for when it comes back. */
  #submit(event: HubEvent<T>, line: string | undefined, kind: number, a?: unknown, b?: unknown): void {
    this.#staged.push(event);
    this.#stagedCount++;
    if (this.#encodes) this.#lines.push(line ?? JSON.stringify(event));
    this.#ledger.stage(kind, a, b);
  }

  #requestAdd(session: Session<T>, options: AddOptions): void {
    const { userId, sessionId } = session;
    if (this.#users.get(userId)?.has(sessionId) === true || this.#joining.get(userId)?.has(sessionId) === true) {
      session.fail(new AlreadyExistsError(`Session ${sessionId} of user ${userId} is already in room ${this.chatroomId}`));
      return;
    }
    let joining = this.#joining.get(userId);
    if (joining === undefined) this.#joining.set(userId, (joining = new Map()));
    joining.set(sessionId, session);
    // The store makes it a `join` or an `add`, from who is in the room on every node.
    this.#submit(this.#presenceEvent('join', userId, sessionId), undefined, P_ADD, session, options);
  }

  #requestRemove(userId: string, sessionId: string, done: Deferred): void {
    const session = this.#users.get(userId)?.get(sessionId) ?? this.#joining.get(userId)?.get(sessionId);
    if (session === undefined || this.#leaving.has(session)) {
      done.reject(new NotFoundError(`Session ${sessionId} of user ${userId} is not in room ${this.chatroomId}`));
      return;
    }
    // It stays in the room, and sees everything, until its own `leave`/`remove` comes back.
    this.#leaving.add(session);
    this.#submit(this.#presenceEvent('leave', userId, sessionId), undefined, P_REMOVE, session, done);
  }

  /** Lets a query, a detach or the close happen once every event this hub appended before it is delivered. */
  #wait(kind: number, a?: unknown, b?: unknown, c?: unknown): void {
    this.#ledger.wait(kind, this.#stagedCount, a, b, c);
    this.#drainWaiting();
  }

  #appendSequenced(): void | Promise<void> {
    const count = this.#stagedCount;
    if (count === 0) return undefined;
    this.#stagedCount = 0;
    const events = this.#staged;
    const lines = this.#encodes ? this.#lines : undefined;
    const pending = this.#ledger.takeBatch();
    this.#staged = [];
    if (lines !== undefined) this.#lines = [];
    let written: void | Promise<void | readonly number[]>;
    try {
      written = (this.#store as RoomStore).append<T>(this.chatroomId, events, lines);
    } catch (error) {
      this.#ledger.restore(pending);
      return this.#failCommit(error);
    }
    return Promise.resolve(written).then(
      (ids) => this.#appended(pending, ids),
      (error: unknown) => {
        // The batch's publishers, joiners and leavers learn of the failure with everyone else.
        this.#ledger.restore(pending);
        return this.#failCommit(error);
      },
    );
  }

  /** The store answered an append: the ids it gave, 0 for the events it did not append. */
  #appended(pending: readonly Pending[], ids: readonly number[] | void): void | Promise<void> {
    if (!Array.isArray(ids) || ids.length !== pending.length) {
      return this.#failCommit(new TypeError(`Expected the store to answer ${pending.length} ids, got ${describe(ids)}`));
    }
    for (const item of this.#ledger.settle(pending, ids)) this.#dropped(item);
    this.#commits++;
    this.#committedEvents += pending.length;
    this.#drainWaiting();
    return this.#fxLength > 0 ? this.#run() : undefined;
  }

  /** An event the store did not append. */
  #dropped(item: Pending): void {
    if (item.kind === P_ADD) {
      const session = item.a as Session<T>;
      const joining = this.#joining.get(session.userId);
      joining?.delete(session.sessionId);
      if (joining?.size === 0) this.#joining.delete(session.userId);
      this.#leaving.delete(session);
      session.fail(new AlreadyExistsError(`Session ${session.sessionId} of user ${session.userId} is already in room ${this.chatroomId}`));
    } else if (item.kind === P_REMOVE) {
      // Not in the room (any more): another node saw it leave, and that `leave` comes back too.
      if (item.b !== undefined) this.#effect(FX_ACK, item.b, undefined);
    } else if (item.kind === P_SEND && item.a !== undefined) {
      (item.a as Deferred<number>).reject(new StoreError(`The store did not append a message of room ${this.chatroomId}`));
    }
  }

  /** Committed events from the store, in id order: this is where a sequenced room changes and delivers. */
  #onCommitted(events: readonly HubEvent<T>[], lines: readonly string[]): void {
    for (let i = 0; i < events.length; i++) {
      // Closed (or failed) here: what follows belongs to the other nodes.
      if (this.#unfollow === undefined) return;
      const event = events[i] as HubEvent<T>;
      const id = event.id;
      if (id <= this.#committedId) continue;
      if (id !== this.#committedId + 1) {
        this.#report(new StoreError(`Events ${this.#committedId + 1} to ${id - 1} of room ${this.chatroomId} are missing from its store`));
      }
      // Replays computed for a session joining here end just before its own event.
      this.#lastId = id - 1;
      const own = this.#ledger.claim(id);
      const line = lines[i];
      if (event.type === 'join' || event.type === 'add') this.#arrive(event, own, line);
      else if (event.type === 'leave' || event.type === 'remove') this.#depart(event, own, line);
      else if (event.type === 'message' && event.to !== undefined) {
        this.#deliverCommitted(event, this.#recipients(event.to, event.userId), line);
      } else this.#deliverCommitted(event, this.#sessions, line);
      if (own?.kind === P_SEND) this.#effect(FX_ACK, own.a, id);
      this.#lastId = this.#committedId = id;
      // A detach or close waiting for this event happens before the next one is handed out.
      if (this.#ledger.waiting) this.#drainWaiting();
    }
  }

  #deliverCommitted(event: HubEvent<T>, recipients: readonly Session<T>[], line: string | undefined): void {
    this.#history.push(event);
    this.#effect(FX_EVENT, event, recipients, this.#listeners, line);
  }

  /** A `join`/`add`: a session of this hub enters here, with its replay computed at this point. */
  #arrive(event: HubEvent<T> & { userId: string; sessionId: string }, own: Pending | undefined, line: string | undefined): void {
    const { userId, sessionId } = event;
    this.#members.set(userId, (this.#members.get(userId) ?? 0) + 1);
    if (own?.kind === P_ADD) {
      const session = own.a as Session<T>;
      const options = own.b as AddOptions;
      const joining = this.#joining.get(userId);
      joining?.delete(sessionId);
      if (joining?.size === 0) this.#joining.delete(userId);
      if (options.onJoined !== undefined) {
        this.#effect(FX_JOINED, options.onJoined, { epoch: this.#epoch, lastEventId: event.id - 1 });
      }
      // The replay comes from the history ring; a resume from further back gets a `trimmed` gap.
      if (options.since !== undefined) this.#replay(session, options.since, options.epoch, []);
      let sessions = this.#users.get(userId);
      if (sessions === undefined) this.#users.set(userId, (sessions = new Map()));
      sessions.set(sessionId, session);
      this.#sessions = [...this.#sessions, session];
    }
    this.#deliverCommitted(event, this.#sessions, line);
  }

  /** A `leave`/`remove`: a session of this hub sees its own, then its stream ends. */
  #depart(event: HubEvent<T> & { userId: string; sessionId: string }, own: Pending | undefined, line: string | undefined): void {
    const { userId, sessionId } = event;
    const count = (this.#members.get(userId) ?? 1) - 1;
    if (count > 0) this.#members.set(userId, count);
    else this.#members.delete(userId);
    const session = this.#users.get(userId)?.get(sessionId);
    if (session !== undefined) {
      this.#unregister(session);
      this.#effect(FX_ONE, session, event);
      if (this.#leaving.delete(session) || this.#ended) this.#effect(FX_COMPLETE, session);
      else {
        // Removed by another node, which took this one for dead: its owner must join again.
        this.#effect(FX_FAIL, session, new StoreError(`Session ${sessionId} of user ${userId} was removed from room ${this.chatroomId} by another node`));
      }
    }
    this.#deliverCommitted(event, this.#sessions, line);
    if (own?.kind === P_REMOVE && own.b !== undefined) this.#effect(FX_ACK, own.b, undefined);
  }

  /** Lets the waiting queries, detaches and close happen whose events are delivered, in order. */
  #drainWaiting(): void {
    for (const item of this.#ledger.due(this.#committedId)) {
      if (item.kind === W_QUERY) this.#effect(FX_QUERY, item.a, item.b, item.c);
      else if (item.kind === W_DETACH) {
        const before = this.#listeners;
        this.#listeners = before.filter((slot) => slot !== item.a);
        if (this.#listeners.length === before.length) (item.b as () => void)();
        else this.#effect(FX_DETACH, item.a, item.b);
      } else if (item.kind === W_CLOSE) {
        // The close: this hub's part in the room ends; the room goes on for the other nodes.
        const sessions = this.#sessions;
        const listeners = this.#listeners;
        this.#unfollow?.();
        this.#unfollow = undefined;
        this.#sessions = [];
        this.#listeners = [];
        this.#users.clear();
        this.#effect(FX_CLOSE, sessions, listeners);
      }
    }
  }

  /** The room failed: what waits for the store gets the failure. Returns the detaches to wait for. */
  #abandon(failure: StoreError): Promise<void>[] {
    const detached: Promise<void>[] = [];
    const { items, waiting } = this.#ledger.abandon();
    for (const item of items) {
      if (item.kind === P_SEND && item.a !== undefined) (item.a as Deferred<number>).reject(failure);
      else if (item.kind === P_REMOVE && item.b !== undefined) (item.b as Deferred).reject(failure);
      else if (item.kind === P_ADD) (item.a as Session<T>).fail(failure);
    }
    for (const item of waiting) {
      if (item.kind === W_QUERY) (item.c as (error: unknown) => void)(failure);
      else if (item.kind === W_DETACH) {
        const slot = item.a as ListenerSlot<T>;
        this.#listeners = this.#listeners.filter((s) => s !== slot);
        detached.push(slot.finish().then(item.b as () => void));
      }
    }
    this.#joining.clear();
    this.#leaving.clear();
    return detached;
  }

  #unregister(session: Session<T>): void {
    const own = this.#users.get(session.userId);
    if (own?.get(session.sessionId) !== session) return;
    own.delete(session.sessionId);
    if (own.size === 0) this.#users.delete(session.userId);
    this.#sessions = this.#sessions.filter((s) => s !== session);
  }

  #presenceEvent(type: 'join' | 'add' | 'remove' | 'leave', userId: string, sessionId: string): HubEvent<T> {
    const id = this.#sequenced ? 0 : ++this.#lastId;
    return { id, chatroomId: this.chatroomId, type, userId, sessionId, unixTime: this.#now };
  }

  /**
   * The end of every batch: commits its events to the store (one append), then lets everything
   * that depended on them happen, in order. Returns a promise when the room must wait: for the
   * store, for a full listener, or for the listeners to flush on close.
   */
  readonly #commit = (): void | Promise<void> => {
    // Sequenced: deliver what came back from the store, then append what this batch produced.
    if (this.#sequenced) return this.#fxLength > 0 ? this.#run() : this.#appendSequenced();
    const count = this.#stagedCount;
    const pipeline = this.#pipeline;
    if (pipeline === undefined) {
      // Without a store: the events are out already; what is left are effects such as query answers.
      if (count === 0) return this.#fxLength === 0 ? undefined : this.#run();
      this.#stagedCount = 0;
      return this.#committed(this.#lastId, count);
    }
    if (count === 0 && this.#fxLength === 0) return undefined;
    // Even a batch with no events (a query, a detach) waits for the batches before it.
    let written: unknown;
    let threw = false;
    if (count > 0) {
      const events = this.#staged;
      const lines = this.#encodes ? this.#lines : undefined;
      this.#staged = [];
      this.#stagedCount = 0;
      if (lines !== undefined) this.#lines = [];
      try {
        written = (this.#store as RoomStore).append<T>(this.chatroomId, events, lines);
      } catch (error) {
        written = error;
        threw = true;
      }
    }
    const batch: CommitBatch = { fx: this.#fx, length: this.#fxLength, last: this.#lastId, count, state: 0, error: undefined };
    this.#fx = this.#fxSpare;
    this.#fxSpare = [];
    this.#fxLength = 0;
    return pipeline.add(batch, written, threw);
  };

  #committed(last: number, count: number): void | Promise<void> {
    this.#committedId = last;
    this.#commits++;
    this.#committedEvents += count;
    return this.#run();
  }

  /** A batch's append resolved and every batch before it was delivered: its effects happen now, in order. */
  readonly #deliverBatch = (batch: CommitBatch): void | Promise<void> => {
    if (batch.count > 0) {
      this.#committedId = batch.last;
      this.#commits++;
      this.#committedEvents += batch.count;
    }
    return this.#runFrom(batch.fx, batch.length, 0, undefined);
  };

  /** An append failed: that batch and the ones appended after it are never delivered. */
  readonly #failBatches = (error: unknown, batches: CommitBatch[]): void => {
    if (this.#failure !== undefined) return;
    void this.#fail(new StoreError(`The store failed to commit events of room ${this.chatroomId}`, { cause: error }), batches);
  };

  #failCommit(error: unknown): void | Promise<void> {
    return this.#fail(new StoreError(`The store failed to commit events of room ${this.chatroomId}`, { cause: error }));
  }

  /** Runs the effects of the committed batch, in order. */
  #run(): void | Promise<void> {
    const fx = this.#fx;
    const length = this.#fxLength;
    this.#fx = this.#fxSpare;
    this.#fxLength = 0;
    this.#fxSpare = [];
    return this.#runFrom(fx, length, 0, undefined);
  }

  /**
   * Runs effects from `start`. When a listener is full after an event, the room waits for it
   * there, so a listener never holds more than its bound, and goes on after.
   */
  #runFrom(fx: unknown[], length: number, start: number, closing: Promise<void> | undefined): void | Promise<void> {
    for (let i = start; i < length; i += FX_STRIDE) {
      const wait = this.#exec(fx[i] as number, fx[i + 1], fx[i + 2], fx[i + 3], fx[i + 4]);
      if (wait === undefined) continue;
      if (fx[i] === FX_CLOSE) {
        closing = wait;
        continue;
      }
      // A listener is full: the room waits for it here, then goes on with the next effect.
      const next = i + FX_STRIDE;
      return wait.then(() => this.#runFrom(fx, length, next, closing));
    }
    this.#current = undefined;
    this.#currentLine = undefined;
    // Drop the references so delivered events can be collected; keep the buffer itself.
    for (let i = 0; i < length; i++) fx[i] = undefined;
    this.#fxSpare = fx;
    if (this.#pipeline !== undefined) {
      // Delivered outside the drain loop: the leaves of overflowed sessions are a command of their own.
      if (this.#overflowed.length > 0) this.#mailbox.postNow(OP_OVERFLOWED);
      return closing;
    }
    if (this.#overflowed.length > 0) this.#dropOverflowed();
    // Leaves staged for overflowed sessions are a batch of their own.
    const more = this.#stagedCount > 0 || this.#fxLength > 0 ? this.#commit() : undefined;
    if (closing === undefined) return more;
    return more === undefined ? closing : Promise.all([closing, more]).then(noop);
  }

  /**
   * Lets one effect happen. Returns a promise when the room must wait: a listener is full after an
   * event, or (FX_CLOSE) the listeners are flushing.
   */
  #exec(kind: number, a: unknown, b: unknown, c: unknown, d: unknown): Promise<void> | undefined {
    switch (kind) {
      case FX_EVENT:
        this.#fanOut(a as HubEvent<T>, b as Session<T>[], c as ListenerSlot<T>[], d as string | undefined);
        if (this.#full.length > 0) {
          const full = this.#full;
          this.#full = [];
          return Promise.all(full.map((slot) => slot.whenRoom())).then(noop);
        }
        return undefined;
      case FX_ONE:
        // A replay or the session's own remove/leave: one past the keep-buffer's bound is kept.
        (a as Session<T>).deliver(b as SessionEvent<T>);
        return undefined;
      case FX_COMPLETE:
        (a as Session<T>).complete();
        return undefined;
      case FX_FAIL:
        (a as Session<T>).fail(b);
        return undefined;
      case FX_ACK:
        (a as Deferred<unknown>).resolve(b);
        return undefined;
      case FX_QUERY:
        try {
          (b as (value: unknown) => void)((a as () => unknown)());
        } catch (error) {
          (c as (error: unknown) => void)(error);
        }
        return undefined;
      case FX_JOINED:
        try {
          (a as (position: JoinPosition) => void)(b as JoinPosition);
        } catch (error) {
          this.#report(error);
        }
        return undefined;
      case FX_DETACH:
        void (a as ListenerSlot<T>).finish().then(b as () => void);
        return undefined;
      case FX_CLOSE:
        return this.#finishClose(a as Session<T>[], b as ListenerSlot<T>[]);
      default:
        return undefined;
    }
  }

  /**
   * A session's keep-buffer overflowed: its stream ends now (it replays what it kept, then
   * errors), and the room sees it leave after this batch.
   */
  #overflow(session: Session<T>): void {
    if (session.ended) return;
    session.fail(
      new BufferOverflowError(
        `Session ${session.sessionId} of user ${session.userId} kept ${session.buffered} events with no subscriber`,
      ),
    );
    this.#overflowed.push(session);
  }

  /** Hands `event` to `sessions` and `listeners`; returns true when one overflowed or filled up. */
  #fanOut(event: HubEvent<T>, sessions: readonly Session<T>[], listeners: readonly ListenerSlot<T>[], line: string | undefined): boolean {
    // A hub encodes all its events or none; without a line there is nothing for encoded() to hand out.
    if (line !== undefined) {
      this.#current = event;
      this.#currentLine = line;
    }
    let settle = false;
    for (let i = 0; i < sessions.length; i++) {
      const session = sessions[i] as Session<T>;
      // Every session ends with `close`, kept past the bound rather than turned into a leave.
      if (!session.deliver(event) && event.type !== 'close') {
        this.#overflow(session);
        settle = true;
      }
    }
    for (let i = 0; i < listeners.length; i++) {
      const slot = listeners[i] as ListenerSlot<T>;
      slot.push(event);
      if (slot.full) {
        this.#full.push(slot);
        settle = true;
      }
    }
    return settle;
  }

  async #finishClose(sessions: readonly Session<T>[], listeners: readonly ListenerSlot<T>[]): Promise<void> {
    for (const session of sessions) session.complete();
    await Promise.all(listeners.map((slot) => slot.finish()));
    await this.#release();
    this.#status = 'closed';
    this.#errors.complete();
    this.#resolveClosed();
  }

  async #release(): Promise<void> {
    this.#unfollow?.();
    this.#unfollow = undefined;
    try {
      await this.#store?.release(this.chatroomId);
    } catch (error) {
      this.#report(new StoreError(`The store failed to release room ${this.chatroomId}`, { cause: error }));
    }
  }

  /**
   * The store failed: nothing of the batch is delivered. Publishers are rejected, sessions end
   * with the failure, listeners are flushed and completed, and the room is closed.
   */
  #fail(failure: StoreError, batches: readonly CommitBatch[] = []): Promise<void> {
    const abandoned = this.#sequenced ? this.#abandon(failure) : [];
    this.#failure = failure;
    this.#ended = true;
    this.#status = 'closed';
    this.#staged = [];
    this.#stagedCount = 0;
    this.#lines = [];
    const detached: Promise<void>[] = abandoned;
    // The batches appended but not delivered, oldest first, then the one being gathered.
    for (const batch of batches) failEffects(failure, batch.fx, batch.length, detached);
    const fx = this.#fx;
    const length = this.#fxLength;
    this.#fx = [];
    this.#fxLength = 0;
    failEffects(failure, fx, length, detached);
    for (const session of this.#sessions) session.fail(failure);
    const listeners = this.#listeners;
    this.#sessions = [];
    this.#listeners = [];
    this.#users.clear();
    this.#report(failure);
    return Promise.all([...detached, ...listeners.map((slot) => slot.finish())])
      .then(() => this.#release())
      .then(() => {
        this.#errors.complete();
        this.#resolveClosed();
      });
  }

  /** Removes sessions nobody read from past `sessionBufferSize`; the room sees them leave. */
  #dropOverflowed(): void {
    const overflowed = this.#overflowed;
    this.#overflowed = [];
    for (const session of overflowed) {
      const own = this.#users.get(session.userId);
      if (this.#ended || own?.get(session.sessionId) !== session) continue;
      if (this.#sequenced) {
        // It leaves when the store says so; its stream has ended already.
        if (this.#leaving.has(session)) continue;
        this.#leaving.add(session);
        this.#submit(this.#presenceEvent('leave', session.userId, session.sessionId), undefined, P_REMOVE, session);
        continue;
      }
      const remaining = own.size;
      this.#unregister(session);
      if (this.#options.presenceEvents === 'none') continue;
      this.#stage(this.#presenceEvent(remaining > 1 ? 'remove' : 'leave', session.userId, session.sessionId), this.#sessions);
    }
  }

  readonly #report = (error: unknown): void => {
    const hubError = error instanceof HubError ? error : new ListenerError('A listener failed', { cause: error });
    const { onError } = this.#options;
    if (onError !== undefined) {
      try {
        onError(hubError);
      } catch (thrown) {
        console.error(thrown);
      }
    } else if (this.#errors.observed) {
      this.#errors.next(hubError);
    } else {
      console.error(hubError);
    }
  };
}

function noop(): void {}

function mailboxOnFault(error: unknown): void {
  // The handler catches what commands can throw; reaching here is a bug in the hub itself.
  console.error('msghub: internal error in the room loop', error);
}
