/**
 * The msghub server: rooms (one MessageHub each) reached over WebSocket, HTTP and TCP with protocol v1
 * (docs/protocol.md). It owns the connections, the rooms registry, the connect tokens, the RPC
 * handlers and the heartbeat, and shuts all of them down in order.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomId } from '@msghub/messagehub';
import type { TransportAdapter, TransportSocket } from './adapter.js';
import { createAssetHandler } from './assets.js';
import { Connection, checkDirect } from './connection.js';
import { createDevTokenHandler } from './dev-tokens.js';
import { FrameRouter } from './frame-router.js';
import { Heartbeat } from './heartbeat.js';
import { HttpAdapter } from './http-adapter.js';
import { createHttpApi } from './http-api.js';
import { InvalidUserIdError, NotFoundWireError, NotJoinedError } from './errors.js';
import { isName } from './frame-codec.js';
import { Counters, countIn, type MetricsSnapshot } from './metrics.js';
import { Observability } from './observability.js';
import { MemoryOfflineQueue, type OfflineQueue } from './offline-queue.js';
import { OriginNotAllowedError, ORIGIN_REPORT_INTERVAL_MS } from './origins.js';
import {
  resolveServerOptions,
  type HubServerOptions,
  type NotifyHandler,
  type RequestHandler,
  type ResolvedServerOptions,
  type ServerRequestOptions,
} from './options.js';
import { MAX_DIRECT_TTL_MS } from './protocol.js';
import { parseHistoryRequest, readHistory } from './room-history.js';
import { outsideGrant } from './room-access.js';
import { RoomRegistry } from './rooms.js';
import { TcpAdapter } from './tcp-adapter.js';
import { TokenStore } from './tokens.js';
import { WsAdapter, type WsAdapterOptions } from './ws-adapter.js';

/** Where {@link HubServer.listen} accepts connections. `false` (or absent) turns a carrier off. */
export interface ListenOptions {
  /**
   * The server's HTTP listener: WebSocket upgrades (at `path`, any path when absent), the HTTP
   * fallback carrier (at `<path>/_http`), `assets` and the other HTTP endpoints.
   * - `websocket: false` refuses every upgrade (`403`), so clients use the HTTP carrier; a function
   *   decides per upgrade request (true accepts; a throw refuses and goes to `onError`). @default true
   * - `http: false` turns the HTTP carrier off; `{ graceMs }` is how long a connection whose
   *   stream dropped waits for the client to open it again. @default true (`graceMs` 10000)
   */
  ws?: { port?: number; host?: string; path?: string; websocket?: WebSocketOption; http?: boolean | { graceMs?: number } } | false;
  /** TCP with length-prefixed frames. */
  tcp?: { port?: number; host?: string } | false;
}

/** Whether to accept WebSocket upgrades: all, none, or as a function decides per request. */
export type WebSocketOption = boolean | ((request: IncomingMessage) => boolean);

function checkWebSocketOption(value: unknown): WebSocketOption {
  if (typeof value !== 'boolean' && typeof value !== 'function') {
    throw new TypeError(`Expected \`websocket\` to be a boolean or a function, got ${String(value)}`);
  }
  return value as WebSocketOption;
}

/** The addresses bound by {@link HubServer.listen}. */
export interface ListenAddresses {
  ws?: AddressInfo;
  tcp?: AddressInfo;
}

/** One authenticated connection, as {@link HubServer.connections} lists it. */
export interface ConnectionSummary {
  /** Also its session id in every room it joins. */
  readonly id: string;
  readonly userId: string;
  /** `'ws'`, `'tcp'`, or what another adapter names itself. */
  readonly carrier: string;
  readonly remoteAddress: string | undefined;
  /** The rooms it has joined (or is joining), in the order it joined them. */
  readonly rooms: readonly string[];
}

/** Options of {@link HubServer.send}. */
export interface SendOptions {
  /**
   * How long the message may wait in the offline queue for a user with no connection, in ms (1 to
   * 2592000000). `0`: deliver now or fail with `OfflineError`, never queue. @default the queue's own TTL
   */
  readonly ttlMs?: number;
  /** The sender the recipient sees in `direct.from`. @default '' (the server: no user has an empty id) */
  readonly from?: string;
}

/** `running` until `close()`; `closing` until every room is closed. */
export type ServerStatus = 'running' | 'closing' | 'closed';

/**
 * A hub server.
 *
 * @example
 * const server = new HubServer({ trustClientUser: true });
 * const { ws, tcp } = await server.listen({ ws: { port: 8080 }, tcp: { port: 8081 } });
 * server.handle('time', () => Date.now());
 * process.on('SIGTERM', () => void server.close());
 */
export class HubServer {
  /** The rooms: `server.rooms.create('lobby')` opens one explicitly. */
  readonly rooms: RoomRegistry;
  /** Connect tokens: `server.tokens.issue(userId)` returns a single-use token. */
  readonly tokens: TokenStore;
  /**
   * Serves the `assets` option; for an HTTP server the caller owns (see {@link attach}), call it
   * first in the request handler: it returns true when it answered.
   */
  readonly assetHandler: (request: IncomingMessage, response: ServerResponse) => boolean;
  /**
   * For an HTTP server the caller owns (see {@link attach}): answers the HTTP carrier's requests
   * (`<path>/_http…`) and serves `assets`. Call it first in the request handler: it returns true
   * when it answered.
   */
  readonly httpHandler = (request: IncomingMessage, response: ServerResponse): boolean => {
    for (const carrier of this.#attachedCarriers) if (carrier.handle(request, response)) return true;
    return this.assetHandler(request, response);
  };
  readonly #attachedCarriers: HttpAdapter[] = [];
  readonly #options: ResolvedServerOptions;
  readonly #counters = new Counters();
  readonly #handlers = new Map<string, RequestHandler>();
  readonly #notifyHandlers = new Map<string, NotifyHandler>();
  readonly #users = new Map<string, Connection[]>();
  readonly #connections = new Set<Connection>();
  /** The same connections by id, for {@link sendTo}, {@link request} and {@link notify}. */
  readonly #byId = new Map<string, Connection>();
  readonly #adapters: TransportAdapter[] = [];
  readonly #router: FrameRouter;
  readonly #heartbeat: Heartbeat;
  readonly #devTokens: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** The HTTP API for backends; answers nothing without `apiKey`. */
  readonly #api: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** Metrics and the admin view; undefined when both are off. */
  readonly #observability: Observability | undefined;
  /** Origin refusals not yet reported to `onError`, and when the last report went. */
  #originRefusals = { pending: 0, reportedAt: Number.NEGATIVE_INFINITY };
  #status: ServerStatus = 'running';
  #closing: Promise<void> | undefined;
  readonly #accept = (socket: TransportSocket): void => this.#connect(socket);

  /** @throws {TypeError} when an option has the wrong type or range */
  constructor(options: HubServerOptions = {}) {
    this.#options = resolveServerOptions(options);
    this.#observability = Observability.create(this.#options, {
      counters: this.#counters,
      connections: this.#connections,
      users: this.#users,
      rooms: () => this.rooms,
      kick: (userId) => this.kick(userId),
      closeRoom: (room) => (this.rooms.get(room) === undefined ? Promise.resolve(false) : this.rooms.close(room).then(() => true)),
    });
    const { autoCreateRooms, roomIdleTimeoutMs, uniqueUsers, presenceEvents, hubOptions, store, onRoomCreated, seedRoom, onError } = this.#options;
    this.rooms = new RoomRegistry({
      autoCreate: autoCreateRooms,
      idleTimeoutMs: roomIdleTimeoutMs,
      uniqueUsers,
      ...(presenceEvents === undefined ? {} : { presenceEvents }),
      hubOptions,
      ...(store === undefined ? {} : { store }),
      onRoomCreated,
      seedRoom,
      onError,
      ...(this.#observability === undefined ? {} : { onCommit: this.#observability.onCommit }),
    });
    this.tokens = new TokenStore({ ttlMs: this.#options.tokenTtlMs });
    this.assetHandler = createAssetHandler(this.#options.assets);
    this.#devTokens = createDevTokenHandler(this.tokens, this.#options.devTokens);
    const offlineQueue: OfflineQueue | false = this.#options.offlineQueue ?? new MemoryOfflineQueue();
    this.#router = new FrameRouter(
      {
        options: this.#options,
        counters: this.#counters,
        rooms: this.rooms,
        tokens: this.tokens,
        offlineQueue,
        handlers: this.#handlers,
        notifyHandlers: this.#notifyHandlers,
        users: this.#users,
      },
      (connection) => {
        this.#connections.delete(connection);
        this.#byId.delete(connection.id);
      },
    );
    this.#api = createHttpApi(this.#options.apiKey, {
      rooms: this.rooms,
      directs: () => this.#router.directs,
      maxBodyBytes: this.#options.maxFrameBytes,
      onError: this.#options.onError,
    });
    this.#heartbeat = new Heartbeat(this.#connections, this.#options, this.#counters);
    this.#installBuiltins();
  }

  get status(): ServerStatus {
    return this.#status;
  }

  /**
   * Starts accepting on the given carriers (WebSocket on port 0 when nothing is given).
   * @returns the bound addresses
   */
  async listen(options: ListenOptions = { ws: {} }): Promise<ListenAddresses> {
    const result: ListenAddresses = {};
    const { maxFrameBytes, onError } = this.#options;
    if (options.ws) {
      const { websocket = true, http = true, ...listen } = options.ws;
      checkWebSocketOption(websocket);
      this.#observability?.checkListen(listen.host ?? '127.0.0.1');
      const carrier = http === false ? undefined : this.#httpCarrier(listen.path, http === true ? {} : http);
      const requestHandler = carrier === undefined ? this.#httpRequest : (request: IncomingMessage, response: ServerResponse): void => {
        if (!carrier.handle(request, response)) this.#httpRequest(request, response);
      };
      const ws = new WsAdapter({ ...listen, ...this.#wsOptions(), maxFrameBytes, onError, requestHandler, websocket });
      if (carrier !== undefined) await this.addAdapter(carrier);
      await this.addAdapter(ws);
      result.ws = ws.address();
    }
    if (options.tcp) {
      const tcp = new TcpAdapter({ ...options.tcp, maxFrameBytes, onError });
      await this.addAdapter(tcp);
      result.tcp = tcp.address();
    }
    return result;
  }

  #httpCarrier(path: string | undefined, options: { graceMs?: number }): HttpAdapter {
    if (typeof options !== 'object' || options === null) throw new TypeError('Expected `ws.http` to be a boolean or an object');
    const { graceMs } = options;
    if (graceMs !== undefined && (!Number.isSafeInteger(graceMs) || graceMs < 1)) {
      throw new TypeError(`Expected \`ws.http.graceMs\` to be an integer >= 1, got ${String(graceMs)}`);
    }
    const { maxFrameBytes, maxQueuedFrames, maxQueuedBytes, allowedOrigins } = this.#options;
    // The series exists from the start, as the WebSocket one does.
    if (!this.#counters.originRefused.has('http')) this.#counters.originRefused.set('http', 0);
    return new HttpAdapter({
      ...(path === undefined ? {} : { path }),
      ...(graceMs === undefined ? {} : { graceMs }),
      maxFrameBytes,
      maxUnackedFrames: maxQueuedFrames,
      maxUnackedBytes: maxQueuedBytes,
      allowedOrigins,
      onOriginRefused: (origin) => this.#originRefused(origin, 'http'),
    });
  }

  /**
   * Accepts WebSocket upgrades on an HTTP server the caller owns, at `path` (any path when
   * absent), and the HTTP carrier at `<path>/_http` through {@link httpHandler}, which the
   * server's request handler calls first (it also serves assets). `websocket` and `http` as in
   * {@link ListenOptions}.
   */
  async attach(server: HttpServer, options: { path?: string; websocket?: WebSocketOption; http?: boolean | { graceMs?: number } } = {}): Promise<void> {
    const { websocket = true, http = true, path } = options;
    checkWebSocketOption(websocket);
    if (http !== false) {
      const carrier = this.#httpCarrier(path, http === true ? {} : http);
      await this.addAdapter(carrier);
      this.#attachedCarriers.push(carrier);
    }
    await this.addAdapter(
      new WsAdapter({ server, ...(path === undefined ? {} : { path }), ...this.#wsOptions(), maxFrameBytes: this.#options.maxFrameBytes, onError: this.#options.onError, websocket }),
    );
  }

  /** What every WebSocket adapter of this server shares: the origin check and compression. */
  #wsOptions(): Pick<WsAdapterOptions, 'allowedOrigins' | 'perMessageDeflate' | 'onOriginRefused'> {
    // The series exists from the start, so that an alert on its increase sees the first refusal.
    if (!this.#counters.originRefused.has('ws')) this.#counters.originRefused.set('ws', 0);
    return {
      allowedOrigins: this.#options.allowedOrigins,
      perMessageDeflate: this.#options.perMessageDeflate,
      onOriginRefused: (origin) => this.#originRefused(origin, 'ws'),
    };
  }

  /**
   * Counts a browser request refused for its `Origin` (a carrier calls it after answering 403)
   * and reports it to `onError`, at most once per 10 s with the count since the last report.
   */
  #originRefused(origin: string, carrier: string): void {
    countIn(this.#counters.originRefused, carrier);
    const refusals = this.#originRefusals;
    refusals.pending++;
    const now = Date.now();
    if (now - refusals.reportedAt < ORIGIN_REPORT_INTERVAL_MS) return;
    const error = new OriginNotAllowedError(origin, carrier, refusals.pending);
    refusals.pending = 0;
    refusals.reportedAt = now;
    this.#options.onError(error);
  }

  /** Starts accepting from another carrier. */
  async addAdapter(adapter: TransportAdapter): Promise<void> {
    if (this.#status !== 'running') throw new Error('The server is closing');
    this.#adapters.push(adapter);
    await adapter.listen(this.#accept);
  }

  /**
   * Registers the RPC handler for `op` (replacing an earlier one). A `request` frame with that
   * op gets a `response` with what the handler returns, or an `error` with the code of what it
   * throws (`INTERNAL` for non-wire errors).
   *
   * @example
   * server.handle('time', () => Date.now());
   * server.handle('whois', async (input, { connection }) => ({ me: connection.userId, input }));
   */
  handle(op: string, handler: RequestHandler): this {
    if (typeof op !== 'string' || op.length === 0) throw new TypeError('Expected `op` to be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError('Expected `handler` to be a function');
    this.#handlers.set(op, this.#observability?.timed(op, handler) ?? handler);
    return this;
  }

  /**
   * Registers the handler of the clients' named notification `op` (replacing an earlier one): a
   * `notify` frame with that op calls it with its data. Nothing is answered; a notification with
   * an op no handler is registered for gets an `error` frame `UNKNOWN_OP` (without `ref`).
   *
   * @example
   * server.onNotify('cursor', (position, { connection }) => cursors.set(connection.userId, position));
   */
  onNotify(op: string, handler: NotifyHandler): this {
    if (typeof op !== 'string' || op.length === 0) throw new TypeError('Expected `op` to be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError('Expected `handler` to be a function');
    this.#notifyHandlers.set(op, handler);
    return this;
  }

  /**
   * Calls the operation `op` on the client of connection `connectionId` (a handler it registered
   * with `client.handle(op, fn)`) and resolves with its answer. From a handler or hook, the same
   * is `connection.request(op, data, options)`.
   *
   * Rejects with `NotFoundWireError` (`NOT_FOUND`) for a connection this server does not
   * hold (ended, never authenticated, or on another node of a cluster), `RequestTimeoutWireError`
   * (`REQUEST_TIMEOUT`), `DisconnectedWireError` (`DISCONNECTED`: the connection ended before the
   * answer), `ClientAnswerError` (the client answered with an error: `UNKNOWN_OP`, ...).
   * @throws {TypeError} for an `op` that is not a string of 1 to 256 characters or a bad `timeoutMs`
   * @example
   * const { width, height } = await server.request(connectionId, 'viewport', undefined, { timeoutMs: 2000 });
   */
  request<T = unknown>(connectionId: string, op: string, data?: unknown, options: ServerRequestOptions = {}): Promise<T> {
    const connection = this.#byId.get(connectionId);
    if (connection === undefined || connection.state !== 'open') {
      if (!isName(op)) throw new TypeError('Expected `op` to be a string of 1 to 256 characters');
      return Promise.reject(new NotFoundWireError('No such connection on this server'));
    }
    return connection.request<T>(op, data, options);
  }

  /**
   * Sends the named notification `op` to the client of connection `connectionId`
   * (`client.notifications(op)`). Fire and forget: nothing is answered.
   * @throws {NotFoundWireError} (`NOT_FOUND`) for a connection this server does not hold
   * @throws {TypeError} for an `op` that is not a string of 1 to 256 characters, or `data` that is not JSON-encodable
   */
  notify(connectionId: string, op: string, data?: unknown): void {
    if (!isName(op)) throw new TypeError('Expected `op` to be a string of 1 to 256 characters');
    const connection = this.#byId.get(connectionId);
    if (connection === undefined || !connection.notify(op, data)) throw new NotFoundWireError('No such connection on this server');
  }

  /**
   * Disconnects every connection of `userId` with a `kicked` frame (code `KICKED`).
   * @returns how many connections were closed
   */
  kick(userId: string, reason = 'Kicked'): number {
    const own = this.#users.get(userId) ?? [];
    for (const connection of own) connection.close('KICKED', reason, { type: 'kicked', code: 'KICKED', reason });
    return own.length;
  }

  /** Every user with an authenticated connection, in the order they first connected. */
  online(): string[] {
    return [...this.#users].filter(([, own]) => own.length > 0).map(([userId]) => userId);
  }

  /** Every authenticated connection: who, over which carrier, from where, in which rooms. */
  connections(): ConnectionSummary[] {
    return [...this.#users.values()].flat().map((connection) => ({
      id: connection.id,
      userId: connection.userId,
      carrier: connection.transport,
      remoteAddress: connection.remoteAddress,
      rooms: [...connection.rooms],
    }));
  }

  /**
   * Sends `userId` a direct message from server code: to every connection the user has, and, for
   * a user with none, through the offline queue (delivered on their next connection, until
   * acknowledged or `ttlMs` has passed), like a `direct` a client sends.
   *
   * @returns the message id (`direct.id`)
   * @throws {InvalidUserIdError} for a user id that is not a string of 1 to 256 characters
   * @throws {TypeError} for a `ttlMs` or `from` out of range, or `data` that is not JSON-encodable
   * Rejects with `OfflineError` (`OFFLINE`) for `ttlMs: 0` and an offline user, with
   * `OfflineQueueFullError` when the queue is full, or `NotFoundWireError` for an offline user when
   * the server keeps no queue.
   * @example
   * await server.send('ada', { text: 'your export is ready' }, { ttlMs: 3_600_000 });
   * await server.send('ada', 'only if online', { ttlMs: 0 }).catch((e) => e.code === 'OFFLINE');
   */
  send(userId: string, data: unknown, options: SendOptions = {}): Promise<string> {
    if (!isName(userId)) throw new InvalidUserIdError(`Expected a user id of 1 to 256 characters, got ${typeof userId}`);
    const { ttlMs, from = '' } = options;
    if (ttlMs !== undefined && (!Number.isSafeInteger(ttlMs) || ttlMs < 0 || ttlMs > MAX_DIRECT_TTL_MS)) {
      throw new TypeError(`Expected \`ttlMs\` to be an integer from 0 to ${MAX_DIRECT_TTL_MS}, got ${String(ttlMs)}`);
    }
    if (typeof from !== 'string' || from.length > 256) throw new TypeError('Expected `from` to be a string of at most 256 characters');
    if (!isEncodable(data)) throw new TypeError('Expected `data` to be JSON-encodable');
    return this.#router.directs.deliver(userId, from, data, ttlMs);
  }

  /**
   * Sends one connection (an id from {@link connections}, `welcome.connectionId`, or
   * `connection.id` in a hook or handler) a direct message from server code: the client gets it
   * on `direct$` like any `direct`, with `from` '' (the server) unless given. Only that connection
   * gets it, at most once: it is neither queued for the user's other or later connections nor sent
   * again; a connection that cannot keep up is closed (`SLOW_CONSUMER`) as for any frame.
   *
   * @returns the message id (`direct.id`)
   * @throws {NotFoundWireError} (`NOT_FOUND`) when no authenticated connection has that id (it
   *   closed, or never existed)
   * @throws {TypeError} for a `connectionId` that is not a string, a `from` longer than 256
   *   characters, or `data` that is not JSON-encodable
   * @example
   * server.handle('export', (input, { connection }) => {
   *   void buildExport(input).then((url) => server.sendTo(connection.id, { url }));
   *   return 'started';
   * });
   */
  sendTo(connectionId: string, data: unknown, options: { readonly from?: string } = {}): string {
    if (typeof connectionId !== 'string') throw new TypeError(`Expected \`connectionId\` to be a string, got ${typeof connectionId}`);
    const connection = this.#byId.get(connectionId);
    if (connection !== undefined) return connection.send(data, options);
    // Bad arguments are reported as such whether or not the connection exists.
    checkDirect(data, options);
    throw new NotFoundWireError(`No connection ${connectionId.slice(0, 64)}`);
  }

  /** Whether `userId` has an authenticated connection. */
  isOnline(userId: string): boolean {
    return (this.#users.get(userId)?.length ?? 0) > 0;
  }

  /** A snapshot of the counters. */
  metrics(): MetricsSnapshot {
    let authenticated = 0;
    for (const connection of this.#connections) if (connection.state === 'open') authenticated++;
    return this.#counters.snapshot(this.#connections.size, authenticated, this.rooms.size);
  }

  /**
   * Shuts down: stops accepting, sends `bye` (`SHUTDOWN`) to every connection, closes every room
   * (its listeners flush), then resolves. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#status = 'closing';
    this.#heartbeat.stop();
    this.#observability?.stop();
    const stopped = Promise.all(this.#adapters.map((adapter) => adapter.stop().catch(this.#options.onError)));
    for (const connection of [...this.#connections]) connection.close('SHUTDOWN', 'Server shutting down');
    await this.rooms.closeAll();
    await stopped;
    this.tokens.clear();
    this.#status = 'closed';
  }

  #connect(socket: TransportSocket): void {
    if (this.#status !== 'running') {
      socket.destroy();
      return;
    }
    // The id is also the connection's session id in every room it joins, and a room's store holds
    // the sessions of earlier runs: random, so that no restart hands one out again.
    const connection = new Connection(randomId(), socket, this.#router, Date.now());
    this.#connections.add(connection);
    this.#byId.set(connection.id, connection);
    socket.start(connection);
  }

  readonly #httpRequest = (request: IncomingMessage, response: ServerResponse): void => {
    if (this.#devTokens(request, response) || this.#api(request, response) || this.#observability?.handle(request, response) === true || this.assetHandler(request, response)) return;
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
  };

  /**
   * `presence` ({room}), `online` ({user}) and `history` ({room, before?, limit?}, for members of
   * the room); an application may replace them.
   */
  #installBuiltins(): void {
    this.handle('presence', (input) => {
      const room = (input as { room?: unknown } | null)?.room;
      const hub = typeof room === 'string' ? this.rooms.get(room) : undefined;
      return hub === undefined ? [] : hub.presence();
    });
    this.handle('online', (input) => {
      const user = (input as { user?: unknown } | null)?.user;
      return typeof user === 'string' && this.isOnline(user);
    });
    this.handle('history', (input, { connection }) => {
      const request = parseHistoryRequest(input);
      const forbidden = outsideGrant(connection, request.room);
      if (forbidden !== undefined) throw forbidden;
      // Members only: whoever may not join a room (authorizeJoin) may not read it either.
      const hub = connection instanceof Connection ? connection.joined.get(request.room)?.hub : undefined;
      if (hub === undefined) throw new NotJoinedError(`Not in room ${request.room}`);
      return readHistory(hub, connection.userId, request);
    });
  }
}

function isEncodable(data: unknown): boolean {
  try {
    return JSON.stringify(data) !== undefined;
  } catch {
    return false;
  }
}
