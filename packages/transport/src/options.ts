/**
 * Options of {@link HubServer}, their defaults and their validation. Invalid options throw a
 * `TypeError` that says what was expected and what was given.
 */
import type { MessageHub, MessageHubOptions, PresenceEvents, RoomStore } from '@msghub/messagehub';
import type { Handshake } from './adapter.js';
import { resolveAdmin, type AdminOption } from './admin.js';
import type { AssetSource } from './assets.js';
import { resolveDevTokens, type DevTokensOption } from './dev-tokens.js';
import { resolveApiKey } from './http-api.js';
import type { OfflineQueue } from './offline-queue.js';
import { resolveAllowedOrigins, type OriginPolicy } from './origins.js';
import { resolvePerMessageDeflate, type PerMessageDeflateOption, type ResolvedPerMessageDeflate } from './per-message-deflate.js';
import { resolveMetrics, type MetricsOption, type ResolvedMetrics } from './prometheus.js';
import type { RoomClaims } from './room-access.js';
import type { RoomSeed } from './rooms.js';
import type { ClientFrame, HelloFrame, ServerFrame } from './protocol.js';
import type { SlowConsumerPolicy } from './outbox.js';
import type { TokenStore } from './tokens.js';

/** A connection as hooks and handlers see it. */
export interface ConnectionInfo {
  /**
   * Random (128 bits, 22 base64url characters) and never handed out again, by this server, another
   * one or a restarted one. It is also the connection's session id in every room it joins.
   */
  readonly id: string;
  /** Empty until authenticated. */
  readonly userId: string;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly transport: string;
  readonly remoteAddress: string | undefined;
  readonly handshake: Handshake;
  /** Rooms this connection has joined. */
  readonly rooms: ReadonlySet<string>;
  /**
   * The rooms its connect token (or authenticator) binds it to: exact names, and prefixes written
   * as `'name*'`. undefined: any room.
   */
  readonly allowedRooms: readonly string[] | undefined;
  /**
   * Calls the operation `op` on this connection's client (a handler it registered with
   * `client.handle(op, fn)`) and resolves with its answer.
   * Rejects with `RequestTimeoutWireError` (`REQUEST_TIMEOUT`) after `timeoutMs` (default: the
   * server's `requestTimeoutMs`), `DisconnectedWireError` (`DISCONNECTED`) when the connection
   * ends first, `ClientAnswerError` when the client answers with an error (`UNKNOWN_OP` for an op
   * it has no handler for).
   */
  request<T = unknown>(op: string, data?: unknown, options?: ServerRequestOptions): Promise<T>;
  /**
   * Sends `data` to this connection alone, as `server.sendTo(connection.id, data)` does: a `direct`
   * frame its client gets on `direct$`, with `from` '' (the server) unless given; at most once, never
   * queued for the user's other or later connections.
   * @returns the message id (`direct.id`)
   * @throws {NotFoundWireError} (`NOT_FOUND`) when the connection is not open (closed, closing, or not
   *   yet welcomed)
   * @throws {TypeError} for a `from` over 256 characters or data JSON cannot encode
   */
  send(data: unknown, options?: { readonly from?: string }): string;
  /**
   * Sends the named notification `op` to this connection's client (`client.notifications(op)`).
   * @returns false when the connection is closing or closed (nothing was sent)
   */
  notify(op: string, data?: unknown): boolean;
}

/** Options of a server request to a client. */
export interface ServerRequestOptions {
  /** Milliseconds to wait for the answer. @default the server's `requestTimeoutMs` */
  readonly timeoutMs?: number;
}

/** What an authenticator gets: the `hello` frame and how the client connected. */
export interface AuthRequest {
  readonly hello: HelloFrame;
  readonly handshake: Handshake;
  readonly transport: string;
  readonly remoteAddress: string | undefined;
  /** The server's connect-token store. */
  readonly tokens: TokenStore;
}

/**
 * An accepted identity, or a user id. Anything falsy (or a thrown error) rejects. `rooms` binds the
 * connection to those rooms (see `TokenGrant.rooms`); a `rooms` that is not an array of at most 256
 * room names fails the authentication (`AUTH_FAILED`, and `onError` gets a `TypeError`).
 */
export type AuthResult =
  | { readonly userId: string; readonly meta?: Readonly<Record<string, unknown>>; readonly rooms?: readonly string[] }
  | string
  | false
  | null
  | undefined;

export type Authenticator = (request: AuthRequest) => AuthResult | Promise<AuthResult>;

/** What a join or publish authorization hook gets. */
export interface RoomRequest {
  readonly room: string;
  readonly connection: ConnectionInfo;
  /** The published data (publish only). */
  readonly data?: unknown;
}

/** Returns false (or throws a wire error) to refuse with `FORBIDDEN` (or the thrown code). */
export type RoomAuthorizer = (request: RoomRequest) => boolean | Promise<boolean>;

/** What a message encoder gets besides the data. */
export interface MessageContext {
  readonly room: string;
  readonly connection: ConnectionInfo;
  readonly hub: MessageHub<unknown>;
  /** Sends `data` to the sender only, as a system whisper in the room (answers commands like `/users`). */
  reply(data: unknown): Promise<void>;
}

/** Returns the data to publish (transformed or not), or `undefined` to publish nothing. */
export type MessageEncoder = (data: unknown, context: MessageContext) => unknown;

/**
 * An RPC handler: returns the `response` data (or a promise of it) or throws (a wire error keeps
 * its code). It may instead return an async iterable (an async generator): each value it yields is
 * one item of a stream, for a client that asked for one (`client.stream(op)`).
 */
export type RequestHandler = (input: unknown, context: RequestContext) => unknown;

/** What an RPC handler gets besides the input. */
export interface RequestContext {
  readonly op: string;
  readonly connection: ConnectionInfo;
  /**
   * Aborted when the answer is no longer wanted: the client cancelled the stream, or the
   * connection ended (disconnect, kick, `bye`, server shutdown).
   */
  readonly signal: AbortSignal;
}

/** Handles a client's named notification (`client.notify(op, data)`); nothing is answered. */
export type NotifyHandler = (data: unknown, context: NotifyContext) => void | Promise<void>;

/** What a notification handler gets besides the data. */
export interface NotifyContext {
  readonly op: string;
  readonly connection: ConnectionInfo;
}

/** Options of {@link HubServer}. Every field is optional. */
export interface HubServerOptions {
  /**
   * Decides who a connection is, from its `hello` and handshake. The default redeems
   * `hello.token` (or the `token` query parameter) from `server.tokens`, and, with
   * `trustClientUser`, accepts `hello.user` (or the `user` query parameter) as is.
   */
  authenticate?: Authenticator;
  /** Let the default authenticator accept a client-chosen user id (development). @default false */
  trustClientUser?: boolean;
  /** Lifetime of a connect token. @default 30000 */
  tokenTtlMs?: number;
  /** Time a connection has to complete `hello`. @default 5000 */
  authTimeoutMs?: number;
  /** Interval of server pings (announced in `welcome.heartbeatMs`). 0 disables pings. @default 25000 */
  heartbeatMs?: number;
  /** Time a client has to answer a ping with a `pong` (or any frame). @default 10000 */
  pongTimeoutMs?: number;
  /** Close a connection that sent no frame (pongs excluded) for this long. 0 = never. @default 0 */
  idleTimeoutMs?: number;
  /** Largest frame accepted. On TCP at most 4 MiB. @default 1048576 */
  maxFrameBytes?: number;
  /** Outgoing queue bound per connection, in frames. @default 4096 */
  maxQueuedFrames?: number;
  /** Outgoing queue bound per connection, in bytes. @default 4194304 */
  maxQueuedBytes?: number;
  /**
   * Close a connection (`SLOW_CONSUMER`) whose socket has taken no write for this long while frames
   * wait for it: a peer that stopped reading. 0 = never. @default 30000
   */
  writeTimeoutMs?: number;
  /** What happens at the bound. @default 'close' */
  slowConsumerPolicy?: SlowConsumerPolicy;
  /**
   * Streams (requests whose handler returned an async iterable) one connection may have running at
   * once; one more is refused with `TOO_MANY_STREAMS`. @default 16
   */
  maxStreams?: number;
  /** Default timeout of a server request to a client (`server.request`, `connection.request`). @default 10000 */
  requestTimeoutMs?: number;
  /** Publishes awaiting the room per connection before the server stops reading it. @default 64 */
  maxPendingPublishes?: number;
  /** Frames a connection may send per `intervalMs`; past it frames get `RATE_LIMITED`. `false` disables. @default { frames: 1000, intervalMs: 1000 } */
  rateLimit?: { frames: number; intervalMs: number } | false;
  /** One connection per user: a new connection kicks the old (`SESSION_REPLACED`). @default false */
  singleSession?: boolean;
  /** Create a room on its first `join`; when false only `server.rooms.create()` does. @default true */
  autoCreateRooms?: boolean;
  /** Close a room no connection has joined for this long. 0 = never. @default 300000 */
  roomIdleTimeoutMs?: number;
  /**
   * Rooms that admit one session per user: a user's second connection joining such a room is
   * refused with `USER_IN_ROOM` (docs/transport.md). `true` for every room, or a function of the
   * room name; `server.rooms.create(name, { uniqueUsers })` sets it for one room. @default false
   */
  uniqueUsers?: boolean | ((room: string) => boolean);
  /**
   * Where the servers of a cluster record which session holds a `uniqueUsers` room, so that a
   * user's second session is refused on every server, atomically (`@msghub/cluster`'s
   * `ClusterRoomClaims`). @default none: each server refuses what it knows of (docs/cluster.md)
   */
  roomClaims?: RoomClaims;
  /**
   * Whether members entering and leaving a room are announced to everyone in it as
   * `join`/`add`/`remove`/`leave` events. `'none'` keeps them out of every stream (no event, no
   * id; `presence`, `online` and the admin view still answer): for rooms of thousands of members,
   * where announcing each to all costs N²/2 frames. A value for every room, or a function of the
   * room name; `server.rooms.create(name, { presenceEvents })` sets it for one room. Invalid values
   * throw `InvalidOptionError` (`INVALID_OPTION`); `'none'` is refused with a cluster's store.
   * @default `hubOptions.presenceEvents`, else 'all'
   */
  presenceEvents?: PresenceEvents | ((room: string) => PresenceEvents);
  /** Options of every room's {@link MessageHub} (`chatroomId` is the room name). */
  hubOptions?: Omit<MessageHubOptions<unknown>, 'chatroomId'>;
  /**
   * Where every room's epoch, sequence and history live; each event is committed there before any
   * client sees it or its publisher gets `ok`. `FileStore` from `@msghub/datalog` survives restarts.
   * @default `hubOptions.store`, else one `MemoryStore` shared by the server's rooms
   */
  store?: RoomStore;
  /** Called with every new room, before anyone joins: attach listeners here. */
  onRoomCreated?: (hub: MessageHub<unknown>, room: string) => void;
  /**
   * Where a new room starts (its last event id and latest events), so a room created again after a
   * restart or an idle close continues its ids. @default every room starts at id 1
   */
  seedRoom?: (room: string) => RoomSeed | undefined;
  /** May a connection join a room? @default everyone may */
  authorizeJoin?: RoomAuthorizer;
  /** May a connection publish (and whisper) in a room it joined? @default everyone may */
  authorizePublish?: RoomAuthorizer;
  /** Transforms or suppresses published data, or answers commands. */
  messageEncoder?: MessageEncoder;
  /**
   * Where user-to-user direct messages wait until their recipient acknowledges them (see
   * docs/transport.md). `false`: no queue; a message reaches the recipient's open connections at
   * most once, and one to an offline user gets `NOT_FOUND`. @default new MemoryOfflineQueue()
   */
  offlineQueue?: OfflineQueue | false;
  /** Sees (and may replace, or drop by returning null) every valid frame from a client, before the server acts on it. */
  beforeReceive?: (frame: ClientFrame, connection: ConnectionInfo) => ClientFrame | null;
  /** Sees (and may replace, or drop by returning null) every frame before it is queued to a client. */
  beforeSend?: (frame: ServerFrame, connection: ConnectionInfo) => ServerFrame | null;
  /** Called after each write with the frame texts it carried. */
  afterSend?: (frames: readonly string[], connection: ConnectionInfo) => void;
  /** Called once a connection is authenticated (after `welcome`). */
  onConnect?: (connection: ConnectionInfo) => void;
  /** Called once a connection is gone, with the code it was closed with (`CLOSED` when the peer left). */
  onDisconnect?: (connection: ConnectionInfo, code: string) => void;
  /**
   * The web pages whose scripts may open a WebSocket, by their exact origin
   * (`'https://chat.example'`, `'http://localhost:3000'`; no paths, no patterns), or `['*']` for
   * any page. A browser's upgrade from another origin is refused with HTTP 403
   * (`ORIGIN_NOT_ALLOWED`). Requests without an `Origin` header (Node, other programs) are always
   * let through. @default same-origin: only pages whose origin's host is the request's `Host`,
   * i.e. the pages this server serves
   */
  allowedOrigins?: readonly string[];
  /**
   * WebSocket permessage-deflate: `true` for the defaults, or its options (`threshold`, `level`,
   * ...; docs/transport.md). Clients that do not offer it (or ask for other parameters) connect
   * uncompressed. Saves bytes on the wire, costs CPU and memory per connection. @default false
   */
  perMessageDeflate?: PerMessageDeflateOption;
  /** Files served by the server's own HTTP listener: URL path → file path or contents. */
  assets?: Readonly<Record<string, AssetSource>>;
  /**
   * Development only: answer `POST /dev/token` (`{"user":"ada"}` → `{"token":"…"}`) on the server's
   * own HTTP listener, so another process can connect as any user. `{ secret }` also requires the
   * `x-msghub-dev-secret` header. @default false
   */
  devTokens?: DevTokensOption;
  /**
   * Serve Prometheus metrics at `GET /metrics` on the server's own HTTP listener (docs/operations.md).
   * `{ token }` requires `Authorization: Bearer <token>`; without a token the server refuses to
   * listen beyond loopback. `{ perRoom: n }` adds series for the n rooms with the most sessions.
   * @default false
   */
  metrics?: MetricsOption;
  /**
   * Serve the admin view at `/admin` on the server's own HTTP listener: live rooms, users and
   * charts, kick a user, close a room. Every request needs the token. @default false
   */
  admin?: AdminOption;
  /**
   * Turns on the HTTP API for backends on the server's own HTTP listener (`GET
   * /rooms/:room/history`, `POST /rooms/:room/publish`, `POST /users/:user/send`; docs/transport.md):
   * every request must carry `Authorization: Bearer <apiKey>`. At least 16 characters.
   * @default undefined (the API is off)
   */
  apiKey?: string;
  /**
   * Carries `signal` frames between the servers of a cluster (`@msghub/cluster`'s
   * `ClusterSignals`), so that a room's members on other servers get them too. @default none
   */
  signalBus?: SignalBus;
  /** Errors with no client to go to (a hook that threw, an internal failure). @default console.error */
  onError?: (error: unknown) => void;
}

export interface ResolvedServerOptions extends Required<Omit<HubServerOptions,
  'authenticate' | 'hubOptions' | 'store' | 'onRoomCreated' | 'seedRoom' | 'authorizeJoin' | 'authorizePublish' | 'messageEncoder' |
  'offlineQueue' | 'beforeReceive' | 'beforeSend' | 'afterSend' | 'onConnect' | 'onDisconnect' | 'rateLimit' | 'devTokens' | 'metrics' | 'admin' | 'apiKey' | 'signalBus' | 'uniqueUsers' | 'roomClaims' | 'allowedOrigins' | 'perMessageDeflate' | 'presenceEvents'>> {
  /** Checked by the room registry. */
  readonly presenceEvents: HubServerOptions['presenceEvents'];
  readonly roomClaims: RoomClaims | undefined;
  readonly uniqueUsers: boolean | ((room: string) => boolean);
  readonly authenticate: Authenticator | undefined;
  readonly hubOptions: Omit<MessageHubOptions<unknown>, 'chatroomId'>;
  readonly store: RoomStore | undefined;
  readonly onRoomCreated: HubServerOptions['onRoomCreated'];
  readonly seedRoom: HubServerOptions['seedRoom'];
  readonly authorizeJoin: RoomAuthorizer | undefined;
  readonly authorizePublish: RoomAuthorizer | undefined;
  readonly messageEncoder: MessageEncoder | undefined;
  readonly offlineQueue: OfflineQueue | false | undefined;
  readonly beforeReceive: HubServerOptions['beforeReceive'];
  readonly beforeSend: HubServerOptions['beforeSend'];
  readonly afterSend: HubServerOptions['afterSend'];
  readonly onConnect: HubServerOptions['onConnect'];
  readonly onDisconnect: HubServerOptions['onDisconnect'];
  readonly rateLimit: { frames: number; intervalMs: number } | false;
  readonly devTokens: { secret: string | undefined } | false;
  readonly metrics: ResolvedMetrics | false;
  readonly admin: { token: string } | false;
  readonly apiKey: string | undefined;
  readonly signalBus: SignalBus | undefined;
  readonly allowedOrigins: OriginPolicy;
  readonly perMessageDeflate: ResolvedPerMessageDeflate | false;
}

/** Carries ephemeral signals between servers (see `HubServerOptions.signalBus`). */
export interface SignalBus {
  /** A member of this server sent `data` to `room`; it has gone to this server's members already. */
  publish(room: string, from: string, data: unknown): void;
  /** Called once by the server: `deliver` hands it each signal sent on another server. */
  follow(deliver: (room: string, from: string, data: unknown) => void): void;
}

function signalBusOption(value: unknown): SignalBus | undefined {
  if (value === undefined) return undefined;
  const bus = value as Partial<SignalBus> | null;
  if (typeof bus !== 'object' || bus === null || typeof bus.publish !== 'function' || typeof bus.follow !== 'function') {
    throw new TypeError(`Expected \`signalBus\` to be an object with publish() and follow(), got ${describe(value)}`);
  }
  return bus as SignalBus;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} (${typeof value})`;
}

function integer(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  return value;
}

function fn<F>(name: string, value: unknown): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
  return value as F | undefined;
}

function objectOption<O>(name: string, value: unknown): O | undefined {
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
  return value as O | undefined;
}

function rateLimitOption(value: unknown): ResolvedServerOptions['rateLimit'] {
  if (value === false) return false;
  const given = objectOption<{ frames?: unknown; intervalMs?: unknown }>('rateLimit', value) ?? {};
  return { frames: integer('rateLimit.frames', given.frames, 1, 1000), intervalMs: integer('rateLimit.intervalMs', given.intervalMs, 1, 1000) };
}

function offlineQueueOption(value: unknown): OfflineQueue | false | undefined {
  if (value === undefined || value === false) return value;
  const queue = value as Partial<OfflineQueue> | null;
  const methods = ['push', 'pending', 'ack'] as const;
  if (typeof queue !== 'object' || queue === null || methods.some((name) => typeof queue[name] !== 'function')) {
    throw new TypeError(`Expected \`offlineQueue\` to be false or an object with push(), pending() and ack(), got ${describe(value)}`);
  }
  return value as OfflineQueue;
}

/** Validates `options` and fills in the defaults. */
export function resolveServerOptions(options: HubServerOptions = {}): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected options to be an object, got ${describe(options)}`);
  const policy = options.slowConsumerPolicy ?? 'close';
  if (policy !== 'close' && policy !== 'drop-oldest') {
    throw new TypeError(`Expected \`slowConsumerPolicy\` to be 'close' or 'drop-oldest', got ${describe(policy)}`);
  }
  return {
    authenticate: fn<Authenticator>('authenticate', options.authenticate),
    trustClientUser: boolean('trustClientUser', options.trustClientUser, false),
    tokenTtlMs: integer('tokenTtlMs', options.tokenTtlMs, 1, 30_000),
    authTimeoutMs: integer('authTimeoutMs', options.authTimeoutMs, 1, 5000),
    heartbeatMs: integer('heartbeatMs', options.heartbeatMs, 0, 25_000),
    pongTimeoutMs: integer('pongTimeoutMs', options.pongTimeoutMs, 1, 10_000),
    idleTimeoutMs: integer('idleTimeoutMs', options.idleTimeoutMs, 0, 0),
    maxFrameBytes: integer('maxFrameBytes', options.maxFrameBytes, 64, 1024 * 1024),
    maxQueuedFrames: integer('maxQueuedFrames', options.maxQueuedFrames, 1, 4096),
    maxQueuedBytes: integer('maxQueuedBytes', options.maxQueuedBytes, 1024, 4 * 1024 * 1024),
    writeTimeoutMs: integer('writeTimeoutMs', options.writeTimeoutMs, 0, 30_000),
    slowConsumerPolicy: policy,
    maxPendingPublishes: integer('maxPendingPublishes', options.maxPendingPublishes, 1, 64),
    maxStreams: integer('maxStreams', options.maxStreams, 1, 16),
    requestTimeoutMs: integer('requestTimeoutMs', options.requestTimeoutMs, 1, 10_000),
    rateLimit: rateLimitOption(options.rateLimit),
    singleSession: boolean('singleSession', options.singleSession, false),
    autoCreateRooms: boolean('autoCreateRooms', options.autoCreateRooms, true),
    roomIdleTimeoutMs: integer('roomIdleTimeoutMs', options.roomIdleTimeoutMs, 0, 300_000),
    uniqueUsers: uniqueUsersOption(options.uniqueUsers),
    roomClaims: roomClaimsOption(options.roomClaims),
    presenceEvents: options.presenceEvents,
    hubOptions: objectOption('hubOptions', options.hubOptions) ?? {},
    store: storeOption(options.store),
    onRoomCreated: fn('onRoomCreated', options.onRoomCreated),
    seedRoom: fn('seedRoom', options.seedRoom),
    authorizeJoin: fn('authorizeJoin', options.authorizeJoin),
    authorizePublish: fn('authorizePublish', options.authorizePublish),
    messageEncoder: fn('messageEncoder', options.messageEncoder),
    offlineQueue: offlineQueueOption(options.offlineQueue),
    signalBus: signalBusOption(options.signalBus),
    beforeReceive: fn('beforeReceive', options.beforeReceive),
    beforeSend: fn('beforeSend', options.beforeSend),
    afterSend: fn('afterSend', options.afterSend),
    onConnect: fn('onConnect', options.onConnect),
    onDisconnect: fn('onDisconnect', options.onDisconnect),
    allowedOrigins: resolveAllowedOrigins(options.allowedOrigins),
    perMessageDeflate: resolvePerMessageDeflate(options.perMessageDeflate),
    assets: objectOption('assets', options.assets) ?? {},
    devTokens: resolveDevTokens(options.devTokens),
    metrics: resolveMetrics(options.metrics),
    admin: resolveAdmin(options.admin),
    apiKey: resolveApiKey(options.apiKey),
    onError: fn('onError', options.onError) ?? reportToConsole,
  };
}

function roomClaimsOption(value: unknown): RoomClaims | undefined {
  if (value === undefined) return undefined;
  const claims = value as Partial<RoomClaims> | null;
  if (typeof claims !== 'object' || claims === null || typeof claims.claim !== 'function' || typeof claims.release !== 'function') {
    throw new TypeError(`Expected \`roomClaims\` to be an object with claim() and release(), got ${describe(value)}`);
  }
  return claims as RoomClaims;
}

function uniqueUsersOption(value: unknown): boolean | ((room: string) => boolean) {
  if (value === undefined) return false;
  if (typeof value !== 'boolean' && typeof value !== 'function') {
    throw new TypeError(`Expected \`uniqueUsers\` to be a boolean or a function, got ${describe(value)}`);
  }
  return value as boolean | ((room: string) => boolean);
}

function storeOption(store: unknown): RoomStore | undefined {
  if (store === undefined) return undefined;
  const s = store as Partial<RoomStore> | null;
  if (typeof s !== 'object' || s === null || typeof s.open !== 'function' || typeof s.append !== 'function') {
    throw new TypeError(`Expected \`store\` to be a RoomStore, got ${describe(store)}`);
  }
  return store as RoomStore;
}

function reportToConsole(error: unknown): void {
  console.error('msghub transport:', error);
}
