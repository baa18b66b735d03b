/**
 * Acts on the frames of every connection: the handshake, joins, leaves, publishes, direct
 * messages, signals, requests and pings. Every failure becomes an `error` frame with a stable
 * code; hook and handler throws are normalised by {@link toWireError}.
 */
import type { MessageHub } from '@msghub/messagehub';
import type { Connection, ConnectionHost } from './connection.js';
import { DirectDelivery } from './direct-delivery.js';
import {
  AlreadyJoinedError,
  AuthFailedError,
  BadFrameError,
  ForbiddenError,
  NotAuthenticatedError,
  NotFoundWireError,
  NotJoinedError,
  RoomNotFoundError,
  UnknownOpError,
  UnsupportedVersionError,
  WireError,
  toWireError,
} from './errors.js';
import { decodeFrame, peekFrame } from './frame-codec.js';
import type { Counters } from './metrics.js';
import type { OfflineQueue } from './offline-queue.js';
import type { AuthResult, MessageContext, NotifyHandler, RequestHandler, ResolvedServerOptions, RoomRequest } from './options.js';
import {
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  type ClientFrame,
  type DirectSendFrame,
  type HelloFrame,
  type JoinFrame,
  type LeaveFrame,
  type NotifyFrame,
  type PublishFrame,
  type Ref,
  type RequestFrame,
  type SignalSendFrame,
} from './protocol.js';
import { roomsProblem } from '@msghub/protocol/token-grant';
import { outsideGrant, sameUserClaimed, sameUserHere, sameUserInHub } from './room-access.js';
import { RoomFeed } from './room-feed.js';
import { RoomSignals } from './room-signals.js';
import type { RoomRegistry } from './rooms.js';
import type { TokenStore } from './tokens.js';

/** Stands in for a membership while its join is being authorized. */
const PENDING = { hub: undefined, unsubscribe(): void {} };

function isUserId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

/** The server state the router works on; owned by {@link HubServer}. */
export interface RouterState {
  readonly options: ResolvedServerOptions;
  readonly counters: Counters;
  readonly rooms: RoomRegistry;
  readonly tokens: TokenStore;
  readonly offlineQueue: OfflineQueue | false;
  readonly handlers: ReadonlyMap<string, RequestHandler>;
  /** Handlers of the clients' named notifications, by op. */
  readonly notifyHandlers: ReadonlyMap<string, NotifyHandler>;
  /** User id → that user's authenticated connections. */
  readonly users: Map<string, Connection[]>;
}

export class FrameRouter implements ConnectionHost {
  readonly options: ResolvedServerOptions;
  readonly counters: Counters;
  readonly #state: RouterState;
  readonly #onDisconnect: (connection: Connection) => void;
  readonly #directs: DirectDelivery;
  readonly #signals = new RoomSignals();
  readonly #feedEnded = (feed: RoomFeed): void => this.#leftRoom(feed);
  /** Memberships that hold a claim of their room (`roomClaims`), let go when they end. */
  readonly #claimed = new WeakSet<RoomFeed>();

  constructor(state: RouterState, onDisconnect: (connection: Connection) => void) {
    this.#state = state;
    this.options = state.options;
    this.counters = state.counters;
    this.#onDisconnect = onDisconnect;
    this.#directs = new DirectDelivery({
      offlineQueue: state.offlineQueue,
      counters: state.counters,
      users: state.users,
      onError: state.options.onError,
    });
    // Signals sent to a room's members on other servers of a cluster reach this server's members.
    state.options.signalBus?.follow((room, from, data) => void this.#signals.deliver(room, from, data));
  }

  /** User-to-user direct messages, for senders other than connections (the HTTP API). */
  get directs(): DirectDelivery {
    return this.#directs;
  }

  receive(connection: Connection, text: string): void {
    let decoded: ClientFrame;
    try {
      decoded = decodeFrame(text, this.options.maxFrameBytes);
    } catch (error) {
      const { ref, type } = peekFrame(text);
      connection.error(toWireError(error), ref, type);
      return;
    }
    if (decoded.type !== 'pong') connection.lastActive = connection.lastSeen;
    let frame: ClientFrame | null = decoded;
    const hook = this.options.beforeReceive;
    if (hook !== undefined) {
      try {
        frame = hook(decoded, connection);
      } catch (error) {
        this.#fail(connection, error, decoded);
        return;
      }
      if (frame === null) return;
    }
    this.#route(connection, frame);
  }

  disconnected(connection: Connection, code: string): void {
    for (const [room, membership] of connection.memberships()) {
      if (membership.hub === undefined) connection.joined.delete(room);
      // The feed ends after the room published the session's remove/leave.
      else membership.hub.remove(connection.userId, connection.id).catch(() => membership.unsubscribe());
    }
    const own = this.#state.users.get(connection.userId);
    if (own !== undefined) {
      // Exact-size arrays: one connection per user is the common case, and an array grown by
      // push or filter reserves room for 16.
      const at = own.indexOf(connection);
      const rest = at < 0 ? own : own.slice(0, at).concat(own.slice(at + 1));
      if (rest.length === 0) this.#state.users.delete(connection.userId);
      else this.#state.users.set(connection.userId, rest);
    }
    this.#directs.disconnected(connection);
    this.#onDisconnect(connection);
    this.#callHook(() => this.options.onDisconnect?.(connection, code));
  }

  #route(connection: Connection, frame: ClientFrame): void {
    if (frame.type === 'ping') {
      connection.sendFrame(frame.ts === undefined ? { type: 'pong' } : { type: 'pong', ts: frame.ts });
      return;
    }
    if (frame.type === 'pong') return;
    if (frame.type === 'bye') {
      connection.close('CLOSED', 'Client said bye');
      return;
    }
    if (connection.state !== 'open') {
      if (frame.type === 'hello' && !connection.helloReceived) {
        connection.helloReceived = true;
        connection.ordered(() => this.#hello(connection, frame));
      } else if (connection.state === 'authenticating' && connection.helloReceived && frame.type !== 'hello') {
        // Pipelined after hello: handled once authentication has settled.
        connection.ordered(() => this.#route(connection, frame));
      } else {
        connection.error(new NotAuthenticatedError('Send hello first and wait for welcome'), refOf(frame), frame.type);
      }
      return;
    }
    switch (frame.type) {
      case 'join':
        return connection.ordered(() => this.#join(connection, frame));
      case 'leave':
        return connection.ordered(() => this.#leave(connection, frame));
      case 'publish':
        return connection.ordered(() => this.#publish(connection, frame));
      case 'direct':
        return connection.ordered(() => this.#direct(connection, frame));
      case 'ack':
        return this.#directs.ack(connection, frame);
      case 'signal':
        return connection.ordered(() => this.#signal(connection, frame));
      case 'request':
        return this.#request(connection, frame);
      case 'cancel':
        return connection.calls.cancel(frame.ref);
      case 'response':
      case 'error':
        return connection.calls.answer(frame);
      case 'notify':
        return this.#notify(connection, frame);
      case 'hello':
        return connection.error(new BadFrameError('Already authenticated'), undefined, 'hello');
    }
  }

  /** Checks the version and authenticates; synchronous unless the authenticator returns a promise. */
  #hello(connection: Connection, hello: HelloFrame): void | Promise<void> {
    if (!SUPPORTED_VERSIONS.includes(hello.v)) {
      connection.error(new UnsupportedVersionError(`Protocol version ${hello.v} is not supported`), undefined, 'hello');
      connection.close('UNSUPPORTED_VERSION');
      return undefined;
    }
    let result: AuthResult | Promise<AuthResult>;
    try {
      result = this.#authenticate(connection, hello);
    } catch (error) {
      return this.#authenticated(connection, undefined, error);
    }
    if (!isPromiseLike(result)) return this.#authenticated(connection, result, undefined);
    return Promise.resolve(result).then(
      (settled) => this.#authenticated(connection, settled, undefined),
      (error: unknown) => this.#authenticated(connection, undefined, error),
    );
  }

  #authenticated(connection: Connection, result: AuthResult, error: unknown): void {
    if (error !== undefined && !(error instanceof WireError)) this.options.onError(error);
    if (connection.state !== 'authenticating') return;
    const identity = normaliseIdentity(result, this.options.onError);
    if (identity === undefined) {
      this.counters.authFailures++;
      connection.error(new AuthFailedError('Authentication failed'), undefined, 'hello');
      connection.close('AUTH_FAILED');
      return;
    }
    this.#welcome(connection, identity);
  }

  #authenticate(connection: Connection, hello: HelloFrame): AuthResult | Promise<AuthResult> {
    const request = {
      hello,
      handshake: connection.handshake,
      transport: connection.transport,
      remoteAddress: connection.remoteAddress,
      tokens: this.#state.tokens,
    };
    const custom = this.options.authenticate;
    if (custom !== undefined) return custom(request);
    const token = hello.token ?? connection.handshake.query['token'];
    if (token !== undefined) return this.#state.tokens.consume(token);
    if (this.options.trustClientUser) return hello.user ?? connection.handshake.query['user'];
    return undefined;
  }

  #welcome(connection: Connection, identity: Identity): void {
    const { userId, meta, rooms } = identity;
    const users = this.#state.users;
    if (this.options.singleSession) {
      for (const old of users.get(userId) ?? []) {
        old.close('SESSION_REPLACED', 'Signed in elsewhere', { type: 'kicked', code: 'SESSION_REPLACED', reason: 'Signed in elsewhere' });
      }
    }
    connection.userId = userId;
    if (meta !== undefined) connection.meta = meta;
    if (rooms !== undefined) connection.allowedRooms = rooms;
    connection.state = 'open';
    // Replaced, never mutated: a loop over a user's connections is never disturbed.
    users.set(userId, users.get(userId)?.concat(connection) ?? [connection]);
    connection.sendFrame({
      type: 'welcome',
      v: PROTOCOL_VERSION,
      userId,
      connectionId: connection.id,
      heartbeatMs: this.options.heartbeatMs,
      maxFrameBytes: this.options.maxFrameBytes,
    });
    this.#callHook(() => this.options.onConnect?.(connection));
    this.#directs.welcome(connection);
  }

  #join(connection: Connection, frame: JoinFrame): void | Promise<void> {
    const { room } = frame;
    const forbidden = outsideGrant(connection, room);
    if (forbidden !== undefined) {
      connection.error(forbidden, frame.ref, 'join');
      return undefined;
    }
    if (connection.joined.has(room)) {
      connection.error(new AlreadyJoinedError(`Already joined ${room}`), frame.ref, 'join');
      return undefined;
    }
    const authorize = this.options.authorizeJoin;
    if (authorize === undefined) return this.#enter(connection, frame);
    connection.joined.set(room, PENDING);
    return this.#authorize(authorize, { room, connection }).then((refusal) => {
      if (connection.joined.get(room) !== PENDING) return;
      connection.joined.delete(room);
      if (refusal !== undefined) connection.error(refusal, frame.ref, 'join');
      else return this.#enter(connection, frame);
      return undefined;
    });
  }

  #enter(connection: Connection, frame: JoinFrame): void | Promise<void> {
    const { room } = frame;
    const closing = this.#state.rooms.closing(room);
    if (closing !== undefined) {
      // The room is closing: join the next one once the old one's events are all out.
      connection.joined.set(room, PENDING);
      return closing.then(() => {
        if (connection.joined.get(room) !== PENDING) return undefined;
        connection.joined.delete(room);
        return this.#enter(connection, frame);
      });
    }
    let hub: MessageHub<unknown> | undefined;
    try {
      hub = this.#state.rooms.open(room);
    } catch (error) {
      this.#fail(connection, error, frame);
      return;
    }
    if (hub === undefined) {
      connection.error(new RoomNotFoundError(`No room ${room}`), frame.ref, 'join');
      return;
    }
    if (this.#state.rooms.uniqueUsers(room)) return this.#enterUnique(connection, frame, hub);
    this.#start(connection, frame, hub);
  }

  /** Joins a room that admits one session per user, unless the user is in it already. */
  #enterUnique(connection: Connection, frame: JoinFrame, hub: MessageHub<unknown>): void | Promise<void> {
    const { room } = frame;
    const here = sameUserHere(connection, this.#state.users.get(connection.userId) ?? [], room);
    if (here !== undefined) {
      connection.error(here, frame.ref, 'join');
      return undefined;
    }
    // Joining meanwhile: another connection of the user that joins now is refused by the check above.
    connection.joined.set(room, PENDING);
    const claims = this.options.roomClaims;
    const { userId, id } = connection;
    const check = claims === undefined ? sameUserInHub(hub, userId, room) : sameUserClaimed(claims, room, userId, id);
    return check.then(
      (refusal) => {
        if (connection.joined.get(room) !== PENDING) {
          // Gone meanwhile (disconnected): a claim it got is let go at once.
          if (refusal === undefined && claims !== undefined) this.#release(room, userId, id);
          return;
        }
        connection.joined.delete(room);
        if (refusal !== undefined) connection.error(refusal, frame.ref, 'join');
        else this.#start(connection, frame, hub, claims !== undefined);
      },
      (error: unknown) => {
        if (connection.joined.get(room) === PENDING) connection.joined.delete(room);
        this.#fail(connection, error, frame);
      },
    );
  }

  /** Starts the membership; `claimed`: it holds a claim of the room, let go when it ends (which may be at once). */
  #start(connection: Connection, frame: JoinFrame, hub: MessageHub<unknown>, claimed = false): void {
    const { room } = frame;
    const feed = new RoomFeed(connection, room, hub, frame.ref, this.#feedEnded);
    if (claimed) this.#claimed.add(feed);
    connection.joined.set(room, feed);
    this.#signals.add(feed);
    this.#state.rooms.retain(room);
    feed.start(frame.since, frame.epoch);
  }

  /** Lets a room claim go; a failure is reported (the claim then stays until its server is taken for dead). */
  #release(room: string, userId: string, sessionId: string): void {
    try {
      void Promise.resolve(this.options.roomClaims?.release(room, userId, sessionId)).catch(this.options.onError);
    } catch (error) {
      this.options.onError(error);
    }
  }

  #leftRoom(feed: RoomFeed): void {
    const { joined } = feed.connection;
    if (joined.get(feed.room) === feed) joined.delete(feed.room);
    if (this.#claimed.has(feed)) {
      this.#claimed.delete(feed);
      this.#release(feed.room, feed.connection.userId, feed.connection.id);
    }
    this.#signals.delete(feed);
    this.#state.rooms.release(feed.room, feed.hub);
  }

  #leave(connection: Connection, frame: LeaveFrame): Promise<void> | void {
    const membership = connection.joined.get(frame.room);
    if (membership?.hub === undefined) {
      connection.error(new NotJoinedError(`Not in room ${frame.room}`), frame.ref, 'leave');
      return undefined;
    }
    connection.joined.delete(frame.room);
    const answer = (): void => {
      membership.unsubscribe();
      if (frame.ref !== undefined) connection.sendFrame({ type: 'ok', ref: frame.ref, room: frame.room });
    };
    // A room that closed meanwhile has let the session go already: the leave still succeeds.
    return membership.hub.remove(connection.userId, connection.id).then(answer, answer);
  }

  #publish(connection: Connection, frame: PublishFrame | DirectSendFrame): void | Promise<void> {
    const room = frame.room as string;
    const forbidden = outsideGrant(connection, room);
    if (forbidden !== undefined) {
      connection.error(forbidden, frame.ref, frame.type);
      return undefined;
    }
    const hub = connection.joined.get(room)?.hub;
    if (hub === undefined) {
      connection.error(new NotJoinedError(`Not in room ${room}`), frame.ref, frame.type);
      return undefined;
    }
    const { authorizePublish, messageEncoder } = this.options;
    if (authorizePublish === undefined && messageEncoder === undefined) {
      this.#post(connection, hub, frame, frame.data);
      return undefined;
    }
    return this.#publishChecked(connection, hub, frame);
  }

  async #publishChecked(connection: Connection, hub: MessageHub<unknown>, frame: PublishFrame | DirectSendFrame): Promise<void> {
    const room = frame.room as string;
    const { authorizePublish, messageEncoder } = this.options;
    if (authorizePublish !== undefined) {
      const refusal = await this.#authorize(authorizePublish, { room, connection, data: frame.data });
      if (refusal !== undefined) {
        connection.error(refusal, frame.ref, frame.type);
        return;
      }
    }
    let data = frame.data;
    if (messageEncoder !== undefined) {
      const context: MessageContext = {
        room,
        connection,
        hub,
        reply: (reply) => hub.systemWhisper(connection.userId, reply),
      };
      try {
        data = await messageEncoder(data, context);
      } catch (error) {
        this.#fail(connection, error, frame);
        return;
      }
    }
    if (data === undefined) {
      if (frame.ref !== undefined) connection.sendFrame({ type: 'ok', ref: frame.ref });
      return;
    }
    this.#post(connection, hub, frame, data);
  }

  /** Hands the message to the room; answers `ok` with the event id once the room's store committed it. */
  #post(connection: Connection, hub: MessageHub<unknown>, frame: PublishFrame | DirectSendFrame, data: unknown): void {
    const { userId } = connection;
    const observe = this.counters.publishObserver;
    const started = observe === undefined ? 0 : performance.now();
    const committed = hub.publish(data, frame.type === 'direct' ? { from: userId, to: frame.to } : { from: userId });
    connection.publishStarted();
    const ref = frame.ref;
    committed.then(
      (id) => {
        connection.publishSettled();
        observe?.((performance.now() - started) / 1000);
        if (ref !== undefined) connection.sendFrame({ type: 'ok', ref, id });
      },
      (error: unknown) => {
        connection.publishSettled();
        this.#fail(connection, error, frame);
      },
    );
  }

  #direct(connection: Connection, frame: DirectSendFrame): void | Promise<void> {
    if (frame.room !== undefined) return this.#publish(connection, frame);
    if (!isUserId(frame.to)) {
      connection.error(new NotFoundWireError('No such user'), frame.ref, 'direct');
      return undefined;
    }
    return this.#directs.send(connection, frame);
  }

  /** Fans an ephemeral signal out to the room's other members: no event id, nothing stored. */
  #signal(connection: Connection, frame: SignalSendFrame): void {
    const forbidden = outsideGrant(connection, frame.room);
    if (forbidden !== undefined) {
      connection.error(forbidden, frame.ref, 'signal');
      return;
    }
    if (connection.joined.get(frame.room)?.hub === undefined) {
      connection.error(new NotJoinedError(`Not in room ${frame.room}`), frame.ref, 'signal');
      return;
    }
    try {
      this.#signals.fanOut(connection, frame.room, frame.data);
      this.options.signalBus?.publish(frame.room, connection.userId, frame.data);
    } catch (error) {
      // Only a `beforeReceive` hook can put data JSON cannot write back into a frame.
      this.#fail(connection, error, frame);
      return;
    }
    if (frame.ref !== undefined) connection.sendFrame({ type: 'ok', ref: frame.ref, room: frame.room });
  }

  #request(connection: Connection, frame: RequestFrame): void {
    const handler = this.#state.handlers.get(frame.op);
    if (handler === undefined) {
      connection.error(new UnknownOpError(`Unknown operation ${JSON.stringify(frame.op.slice(0, 64))}`), frame.ref, 'request');
      return;
    }
    void connection.calls.run(handler, frame, connection).catch(this.options.onError);
  }

  /**
   * A client's named notification: handed to the handler of its op. Nothing is answered; an
   * unknown op, or a handler that throws, gets an `error` frame without `ref` (`UNKNOWN_OP`, or the
   * thrown code: `INTERNAL` for errors that carry none).
   */
  #notify(connection: Connection, frame: NotifyFrame): void {
    const handler = this.#state.notifyHandlers.get(frame.op);
    if (handler === undefined) {
      connection.error(new UnknownOpError(`Unknown notification ${JSON.stringify(frame.op.slice(0, 64))}`), undefined, 'notify');
      return;
    }
    let result: void | Promise<void>;
    try {
      result = handler(frame.data, { op: frame.op, connection });
    } catch (error) {
      this.#fail(connection, error, frame);
      return;
    }
    if (isPromiseLike(result)) Promise.resolve(result).catch((error: unknown) => this.#fail(connection, error, frame));
  }

  /** Runs an authorization hook: undefined when allowed, else the error to send. */
  async #authorize(hook: (request: RoomRequest) => boolean | Promise<boolean>, request: RoomRequest): Promise<WireError | undefined> {
    try {
      return (await hook(request)) === true ? undefined : new ForbiddenError(`Not allowed in room ${request.room}`);
    } catch (error) {
      if (!(error instanceof WireError)) this.options.onError(error);
      return toWireError(error);
    }
  }

  /** Sends the error for `error`, reporting internal failures on the server side. */
  #fail(connection: Connection, error: unknown, frame: ClientFrame): void {
    const wire = toWireError(error);
    if (wire.code === 'INTERNAL') this.options.onError(error);
    connection.error(wire, refOf(frame), frame.type);
  }

  #callHook(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.options.onError(error);
    }
  }
}

function refOf(frame: ClientFrame): Ref | undefined {
  return 'ref' in frame ? frame.ref : undefined;
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

interface Identity {
  readonly userId: string;
  readonly meta?: Readonly<Record<string, unknown>> | undefined;
  readonly rooms?: readonly string[] | undefined;
}

/** The identity an authenticator accepted, or undefined (a malformed `rooms` is reported too). */
function normaliseIdentity(result: AuthResult, onError: (error: unknown) => void): Identity | undefined {
  if (typeof result === 'string') return isUserId(result) ? { userId: result } : undefined;
  if (typeof result !== 'object' || result === null || !isUserId(result.userId)) return undefined;
  if (result.rooms === undefined) return result;
  const problem = roomsProblem(result.rooms);
  if (problem !== undefined) {
    onError(new TypeError(`The authenticator accepted ${result.userId} with a bad binding: ${problem}`));
    return undefined;
  }
  return { ...result, rooms: Object.freeze([...result.rooms]) };
}
