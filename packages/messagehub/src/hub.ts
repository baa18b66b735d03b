import { Observable, Subject } from 'rxjs';
import {
  AlreadyExistsError,
  BufferOverflowError,
  ClosedError,
  HubError,
  InvalidArgumentError,
  ListenerError,
  NotFoundError,
} from './errors.js';
import { isVisibleTo, type GapNotice, type HubEvent, type SessionEvent } from './event.js';
import { HistoryRing } from './history.js';
import { ListenerSlot, type HubListener, type HubListenerFunction } from './listener.js';
import { Mailbox } from './mailbox.js';
import { describe, resolveOptions, type MessageHubOptions, type ResolvedOptions } from './options.js';
import { Session } from './session.js';

// Mailbox commands. Arguments travel in the flat slots a, b, c.
const OP_ADD = 0; // a: Session, b: since | undefined
const OP_REMOVE = 1; // a: userId, b: sessionId, c: Deferred
const OP_SEND = 2; // a: from | undefined, b: to | undefined, c: payload
const OP_QUERY = 3; // a: () => R, b: resolve, c: reject
const OP_ATTACH = 4; // a: ListenerSlot
const OP_DETACH = 5; // a: ListenerSlot, b: resolve
const OP_CLOSE = 6;

const RESOLVED: Promise<void> = Promise.resolve();

/** Lifecycle of a hub: `running` until `close()`, `closing` until every listener is flushed. */
export type HubStatus = 'running' | 'closing' | 'closed';

/** Options of {@link MessageHub.add}. */
export interface AddOptions {
  /**
   * Resume: replay the room's events after this id (those the user may see) before the session's
   * own `join`/`add`. When the history no longer reaches back, a {@link GapNotice} comes first.
   */
  since?: number;
}

/** One user in the room and how many sessions it has. */
export interface PresenceEntry {
  readonly userId: string;
  readonly sessions: number;
}

/** A snapshot of the hub's counters and buffer levels, for metrics. */
export interface HubStats {
  readonly status: HubStatus;
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
}

/** Returned by {@link MessageHub.attachListener}. */
export interface ListenerHandle {
  /**
   * Stops delivery after the events already accepted by the room, waits until the listener has
   * handled them, runs its `complete`, then resolves. Idempotent.
   */
  detach(): Promise<void>;
}

interface Deferred {
  resolve(): void;
  reject(error: unknown): void;
}

function checkId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a non-empty string, got ${describe(value)}`);
  }
}

/**
 * One chat room, run as an actor. Every change goes through one mailbox, drained by one loop;
 * everything that happens comes out as events with ids 1, 2, 3, ... that every session stream,
 * listener and the history observe in the same order.
 *
 * @example
 * const hub = new MessageHub({ chatroomId: 'lobby' });
 * hub.add('ada', 'tab-1').subscribe((event) => console.log(event.type, event.id));
 * await hub.message('ada', 'hello');
 * await hub.close();
 */
export class MessageHub<T = string> {
  /** The room's id, as in every event's `chatroomId`. */
  readonly chatroomId: string;
  /** Resolves (never rejects) once the hub is closed and every listener is flushed. */
  readonly closed: Promise<void>;

  readonly #options: ResolvedOptions<T>;
  readonly #mailbox: Mailbox;
  readonly #history: HistoryRing<T>;
  readonly #errors = new Subject<HubError>();
  /** Live sessions in join order, for fan-out. Replaced, never mutated. */
  #sessions: Session<T>[] = [];
  readonly #users = new Map<string, Map<string, Session<T>>>();
  /** Attached listeners, in attach order. Replaced, never mutated. */
  #listeners: ListenerSlot<T>[] = [];
  #lastId: number;
  #now = 0;
  #status: HubStatus = 'running';
  #closing: Promise<void> | undefined;
  #resolveClosed!: () => void;
  /** Listeners that reached their bound while publishing the current event. */
  #full: ListenerSlot<T>[] = [];
  /** Sessions whose keep-buffer overflowed while publishing the current event. */
  #overflowed: Session<T>[] = [];

  /** @throws {InvalidOptionError} when an option has the wrong type or range */
  constructor(options: MessageHubOptions<T>) {
    this.#options = resolveOptions(options);
    this.chatroomId = this.#options.chatroomId;
    this.#lastId = this.#options.seed.lastEventId;
    this.#history = new HistoryRing<T>(this.#options.historySize, this.#options.seed.history);
    this.#mailbox = new Mailbox(this.#options.mailboxSize, this.#handle, this.#tick, mailboxOnFault);
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** `running`, `closing` (after `close()`, until flushed) or `closed`. */
  get status(): HubStatus {
    return this.#status;
  }

  /** The id of the latest event the room emitted (0 before the first). */
  get lastEventId(): number {
    return this.#lastId;
  }

  /** Errors with no caller to go to (a listener that threw). See `onError`. */
  get errors(): Observable<HubError> {
    return this.#errors.asObservable();
  }

  /**
   * Adds a session to the room and returns its event stream. The stream starts with the
   * session's own `join` (the user's first session) or `add`, misses nothing after it even if
   * subscribed later, and completes after the session's `remove`/`leave` or the room's `close`.
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
    const { since } = options;
    if (since !== undefined && (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)) {
      throw new InvalidArgumentError(`Expected \`since\` to be an integer >= 0, got ${describe(since)}`);
    }
    const session = new Session<T>(userId, sessionId, this.#options.sessionBufferSize);
    if (this.#status !== 'running') session.fail(new ClosedError(`Room ${this.chatroomId} is closed`));
    else void this.#mailbox.post(OP_ADD, session, since);
    return session.stream;
  }

  /**
   * Removes a session: the room sees `remove`, or `leave` for the user's last session, and the
   * session's stream completes after it.
   *
   * @returns resolves once removed; rejects with `NOT_FOUND` or `CLOSED`
   * @throws {InvalidArgumentError} for an empty or non-string id
   */
  remove(userId: string, sessionId: string): Promise<void> {
    checkId('userId', userId);
    checkId('sessionId', sessionId);
    if (this.#status !== 'running') return Promise.reject(new ClosedError(`Room ${this.chatroomId} is closed`));
    return new Promise<void>((resolve, reject) => {
      void this.#mailbox.post(OP_REMOVE, userId, sessionId, { resolve, reject });
    });
  }

  /**
   * Broadcasts a message from `userId` to every session.
   *
   * @returns resolves once the room has accepted the message: immediately while the mailbox has
   *   room, later when it is full (await it to slow down). On a closed hub it is a no-op.
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
      void this.#mailbox.post(OP_QUERY, () => this.#history.toArray(), emit, (e: unknown) => subscriber.error(e));
    });
  }

  /** {@link history} as one awaited array. */
  getHistory(): Promise<HubEvent<T>[]> {
    return this.#query(() => this.#history.toArray());
  }

  /** The users in the room with their session counts, in the order they joined. */
  presence(): Promise<PresenceEntry[]> {
    return this.#query(() =>
      Array.from(this.#users, ([userId, sessions]) => ({ userId, sessions: sessions.size })),
    );
  }

  /** Whether `userId` has at least one session in the room. */
  isOnline(userId: string): Promise<boolean> {
    checkId('userId', userId);
    return this.#query(() => this.#users.has(userId));
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
    if (this.#status !== 'running') throw new ClosedError(`Room ${this.chatroomId} is closed`);
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
      lastEventId: this.#lastId,
      users: this.#users.size,
      sessions: this.#sessions.length,
      mailbox: this.#mailbox.size,
      parked: this.#mailbox.parked,
      listenerBuffers: this.#listeners.map((slot) => slot.buffered),
      history: this.#history.size,
    };
  }

  /**
   * Closes the room after everything sent before this call: emits `close` to every session and
   * listener, completes every stream, waits for every listener to flush and complete, then
   * resolves. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#status = 'closing';
    void this.#mailbox.post(OP_CLOSE);
    this.#closing = this.closed;
    return this.#closing;
  }

  #send(from: string | undefined, to: string | undefined, payload: T): Promise<void> {
    if (this.#status !== 'running') return RESOLVED;
    return this.#mailbox.post(OP_SEND, from, to, payload);
  }

  #query<R>(read: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      void this.#mailbox.post(OP_QUERY, read, resolve, reject);
    });
  }

  readonly #tick = (): void => {
    this.#now = this.#options.clock();
  };

  /** The drain loop's handler: the only place room state changes. */
  readonly #handle = (op: number, a: unknown, b: unknown, c: unknown): void | Promise<void> => {
    switch (op) {
      case OP_SEND:
        return this.#onSend(a as string | undefined, b as string | undefined, c as T);
      case OP_ADD:
        return this.#onAdd(a as Session<T>, b as number | undefined);
      case OP_REMOVE:
        return this.#onRemove(a as string, b as string, c as Deferred);
      case OP_QUERY:
        try {
          (b as (value: unknown) => void)((a as () => unknown)());
        } catch (error) {
          (c as (error: unknown) => void)(error);
        }
        return undefined;
      case OP_ATTACH:
        this.#listeners = [...this.#listeners, a as ListenerSlot<T>];
        return undefined;
      case OP_DETACH:
        return this.#onDetach(a as ListenerSlot<T>, b as () => void);
      case OP_CLOSE:
        return this.#onClose();
      default:
        return undefined;
    }
  };

  #onSend(from: string | undefined, to: string | undefined, message: T): void | Promise<void> {
    const id = ++this.#lastId;
    const chatroomId = this.chatroomId;
    const unixTime = this.#now;
    let event: HubEvent<T>;
    if (to !== undefined) {
      event = from === undefined
        ? { id, chatroomId, type: 'message', to, message, unixTime }
        : { id, chatroomId, type: 'message', userId: from, to, message, unixTime };
    } else {
      event = from === undefined
        ? { id, chatroomId, type: 'message', message, unixTime }
        : { id, chatroomId, type: 'message', userId: from, message, unixTime };
    }
    return this.#publish(event, to, from);
  }

  #onAdd(session: Session<T>, since: number | undefined): void | Promise<void> {
    const { userId, sessionId } = session;
    if (this.#status === 'closed') {
      session.fail(new ClosedError(`Room ${this.chatroomId} is closed`));
      return undefined;
    }
    let own = this.#users.get(userId);
    if (own?.has(sessionId)) {
      session.fail(new AlreadyExistsError(`Session ${sessionId} of user ${userId} is already in room ${this.chatroomId}`));
      return undefined;
    }
    if (since !== undefined) this.#replay(session, since);
    const type = own === undefined ? 'join' : 'add';
    if (own === undefined) {
      own = new Map();
      this.#users.set(userId, own);
    }
    own.set(sessionId, session);
    this.#sessions = [...this.#sessions, session];
    return this.#publishPresence(type, userId, sessionId);
  }

  /** Feeds a resuming session the history after `since` that it may see, or a gap notice first. */
  #replay(session: Session<T>, since: number): void {
    const next = this.#lastId + 1;
    const oldest = this.#history.oldestId ?? next;
    let reason: GapNotice['reason'] | undefined;
    let resumeAt = next;
    if (since >= next) reason = 'reset';
    else if (since + 1 < oldest) {
      reason = 'trimmed';
      resumeAt = oldest;
    }
    if (reason !== undefined) {
      session.deliver({ type: 'gap', chatroomId: this.chatroomId, since, resumeAt, reason, unixTime: this.#now });
    }
    if (reason === 'reset') return;
    for (const event of this.#history.after(since)) {
      if (isVisibleTo(event, session.userId)) session.deliver(event);
    }
  }

  #onRemove(userId: string, sessionId: string, done: Deferred): void | Promise<void> {
    const own = this.#users.get(userId);
    const session = own?.get(sessionId);
    if (own === undefined || session === undefined) {
      done.reject(new NotFoundError(`Session ${sessionId} of user ${userId} is not in room ${this.chatroomId}`));
      return undefined;
    }
    const event = this.#presenceEvent(own.size > 1 ? 'remove' : 'leave', userId, sessionId);
    // The leaving session sees its own remove/leave, then its stream completes. It is out of the
    // room first, so that one event past its keep-buffer's bound cannot remove it a second time.
    this.#unregister(session);
    session.deliver(event);
    session.complete();
    done.resolve();
    return this.#publish(event);
  }

  #onDetach(slot: ListenerSlot<T>, done: () => void): void {
    const before = this.#listeners;
    this.#listeners = before.filter((s) => s !== slot);
    // A listener closed with the room has already finished.
    if (this.#listeners.length === before.length) done();
    else void slot.finish().then(done);
  }

  #onClose(): Promise<void> {
    const event: HubEvent<T> = { id: ++this.#lastId, chatroomId: this.chatroomId, type: 'close', unixTime: this.#now };
    // Every session ends with `close`: one event past a keep-buffer's bound is kept, never turned
    // into a `leave` published after the room's last event.
    const sessions = this.#sessions;
    this.#sessions = [];
    this.#users.clear();
    for (const session of sessions) {
      session.deliver(event);
      session.complete();
    }
    const wait = this.#publish(event);
    const listeners = this.#listeners;
    this.#listeners = [];
    return Promise.resolve(wait)
      .then(() => Promise.all(listeners.map((slot) => slot.finish())))
      .then(() => {
        this.#status = 'closed';
        this.#errors.complete();
        this.#resolveClosed();
      });
  }

  #unregister(session: Session<T>): void {
    const own = this.#users.get(session.userId);
    if (own?.get(session.sessionId) !== session) return;
    own.delete(session.sessionId);
    if (own.size === 0) this.#users.delete(session.userId);
    this.#sessions = this.#sessions.filter((s) => s !== session);
  }

  #publishPresence(type: 'join' | 'add' | 'remove' | 'leave', userId: string, sessionId: string): void | Promise<void> {
    return this.#publish(this.#presenceEvent(type, userId, sessionId));
  }

  #presenceEvent(type: 'join' | 'add' | 'remove' | 'leave', userId: string, sessionId: string): HubEvent<T> {
    return { id: ++this.#lastId, chatroomId: this.chatroomId, type, userId, sessionId, unixTime: this.#now };
  }

  /**
   * Records `event` and hands it to its sessions (all, or a whisper's two ends) and to every
   * listener. Returns a promise only when a listener is full and the room must wait.
   */
  #publish(event: HubEvent<T>, to?: string, from?: string): void | Promise<void> {
    this.#history.push(event);
    if (to === undefined) {
      const sessions = this.#sessions;
      for (let i = 0; i < sessions.length; i++) {
        const session = sessions[i] as Session<T>;
        if (!session.deliver(event)) this.#overflowed.push(session);
      }
    } else {
      this.#deliverToUser(event, to);
      if (from !== undefined && from !== to) this.#deliverToUser(event, from);
    }
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      const slot = listeners[i] as ListenerSlot<T>;
      slot.push(event);
      if (slot.full) this.#full.push(slot);
    }
    let wait: Promise<void> | undefined;
    if (this.#overflowed.length > 0) wait = this.#dropOverflowed();
    if (this.#full.length > 0) {
      const full = this.#full;
      this.#full = [];
      const room = Promise.all(full.map((slot) => slot.whenRoom())).then(noop);
      wait = wait === undefined ? room : Promise.all([wait, room]).then(noop);
    }
    return wait;
  }

  #deliverToUser(event: HubEvent<T>, userId: string): void {
    const own = this.#users.get(userId);
    if (own === undefined) return;
    for (const session of own.values()) if (!session.deliver(event)) this.#overflowed.push(session);
  }

  /** Removes sessions nobody read from past `sessionBufferSize`; the room sees them leave. */
  #dropOverflowed(): Promise<void> | undefined {
    const overflowed = this.#overflowed;
    this.#overflowed = [];
    const waits: Promise<void>[] = [];
    for (const session of overflowed) {
      if (session.ended) continue;
      const remaining = this.#users.get(session.userId)?.size ?? 0;
      this.#unregister(session);
      session.fail(
        new BufferOverflowError(
          `Session ${session.sessionId} of user ${session.userId} kept ${session.buffered} events with no subscriber`,
        ),
      );
      const wait = this.#publishPresence(remaining > 1 ? 'remove' : 'leave', session.userId, session.sessionId);
      if (wait !== undefined) waits.push(wait);
    }
    return waits.length === 0 ? undefined : Promise.all(waits).then(noop);
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
