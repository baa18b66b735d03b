/**
 * WebSocket carrier: one text message per frame. It runs on its own HTTP server (which also serves
 * the server's assets) or attaches to an existing `http.Server` at a path. A connection that
 * negotiates no extension is read and written by msghub itself (`ws-socket.ts`); one that
 * negotiates permessage-deflate (only offered when the server enables it) goes through `ws`, which
 * compresses. Either way a batch of frames is written with the TCP socket corked, so many messages
 * leave in one system call while each stays its own WebSocket message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Handshake, SocketHandler, TransportAdapter, TransportSocket } from './adapter.js';
import { FrameTooLargeError } from './errors.js';
import { boundAddress, listenOn } from './listening.js';
import { isOriginAllowed, originRefusal, ORIGIN_REFUSED_STATUS, resolveAllowedOrigins, type OriginPolicy } from './origins.js';
import { resolvePerMessageDeflate, wsDeflateOptions, type PerMessageDeflateOption } from './per-message-deflate.js';
import { MAX_TCP_FRAME_BYTES } from './protocol.js';
import { acceptResponse, checkUpgrade, refusalResponse } from './ws-frames.js';
import { readQuery, shareValues, WsSocket, type WsLimits } from './ws-socket.js';

/** Options of {@link WsAdapter}. */
export interface WsAdapterOptions {
  /** Attach to this HTTP server instead of creating one; `port` and `host` are then ignored. */
  server?: Server;
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Accept upgrades only at this URL path; any path when absent. */
  path?: string;
  /** Largest frame accepted; larger ones get `FRAME_TOO_LARGE` and the connection survives. */
  maxFrameBytes: number;
  /** Errors of the listening socket once bound (an accept that failed). @default console.error */
  onError?: (error: unknown) => void;
  /**
   * Which upgrades to accept: `false` refuses every one with `403` (clients fall back to the HTTP
   * carrier), a function decides per request (a throw refuses and goes to `onError`). @default true
   */
  websocket?: boolean | ((request: IncomingMessage) => boolean);
  /** Answers plain HTTP requests on a server the adapter created (assets, 404). */
  requestHandler?: (request: IncomingMessage, response: ServerResponse) => void;
  /**
   * The origins whose pages may connect (see `HubServerOptions.allowedOrigins`); others get 403.
   * @default same-origin
   */
  allowedOrigins?: readonly string[] | OriginPolicy;
  /** Called for each upgrade refused for its origin, after the 403 is written. */
  onOriginRefused?: (origin: string, request: IncomingMessage) => void;
  /** permessage-deflate (see `HubServerOptions.perMessageDeflate`). @default false */
  perMessageDeflate?: PerMessageDeflateOption;
}

const TEXT = { binary: false } as const;
const TEXT_COMPRESSED = { binary: false, compress: true } as const;
const TEXT_PLAIN = { binary: false, compress: false } as const;
type RawSocketOwner = { _socket?: Socket };

/** A `ws` socket that knows its connection, so module-level handlers find it through `this`. */
class HubWebSocket extends WebSocket {
  connection: WsConnection | undefined = undefined;
}

// Flags of a WsConnection, in one small integer (an idle connection is mostly its fields).
const CLOSED = 1;
const DRAIN_ARMED = 2;

/**
 * Compression state of a connection that negotiated permessage-deflate. Batches handed to ws that
 * it has not finished writing: ws compresses asynchronously and keeps what waits for zlib in a
 * queue of its own; while a batch is there, later frames wait in the connection's bounded outbox
 * instead, so the outbox bound and the slow-consumer policy hold.
 */
class Deflating {
  /** Frames at least this long are compressed. */
  readonly threshold: number;
  compressing = 0;
  /** A flush found a batch still compressing: `drain` follows once none is. */
  blocked = false;
  readonly onCompressed: () => void;

  constructor(connection: WsConnection, threshold: number) {
    this.threshold = threshold;
    this.onCompressed = () => {
      this.compressing--;
      if (this.compressing === 0 && this.blocked) {
        this.blocked = false;
        connection.handler?.drain();
      }
    };
  }
}

class WsConnection implements TransportSocket {
  readonly remoteAddress: string | undefined;
  readonly #ws: HubWebSocket;
  readonly #maxFrameBytes: number;
  /** The upgrade request's headers and URL; the handshake is made of them when asked for. */
  readonly #headers: IncomingMessage['headers'];
  readonly #url: string | undefined;
  /** Only on a connection whose handshake agreed on permessage-deflate (most connections: none). */
  readonly #deflate: Deflating | undefined;
  handler: SocketHandler | undefined;
  #flags = 0;
  /** Made the first time the socket needs a drain; most connections never do. */
  #onDrain: (() => void) | undefined;

  constructor(ws: HubWebSocket, request: IncomingMessage, maxFrameBytes: number, threshold: number | undefined) {
    this.#ws = ws;
    this.#maxFrameBytes = maxFrameBytes;
    // Only a socket whose handshake agreed on permessage-deflate compresses.
    this.#deflate = threshold !== undefined && ws.extensions.includes('permessage-deflate') ? new Deflating(this, threshold) : undefined;
    this.remoteAddress = request.socket.remoteAddress;
    this.#headers = shareValues(request.headers);
    this.#url = request.url;
    ws.connection = this;
    ws.on('error', wsOnError);
    ws.on('close', wsOnClose);
  }

  get transport(): string {
    return 'ws';
  }

  /** Made on each access from what the upgrade request said, so an idle connection keeps no copy. */
  get handshake(): Handshake {
    return { headers: this.#headers, query: readQuery(this.#url), url: this.#url };
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  get needsDrain(): boolean {
    const deflate = this.#deflate;
    if (deflate !== undefined && deflate.compressing > 0) {
      deflate.blocked = true;
      return true;
    }
    const raw = (this.#ws as unknown as RawSocketOwner)._socket;
    if (raw === undefined || !raw.writableNeedDrain) return false;
    if ((this.#flags & DRAIN_ARMED) === 0) {
      this.#flags |= DRAIN_ARMED;
      this.#onDrain ??= () => {
        this.#flags &= ~DRAIN_ARMED;
        this.handler?.drain();
      };
      raw.once('drain', this.#onDrain);
    }
    return true;
  }

  start(handler: SocketHandler): void {
    this.handler = handler;
    this.#ws.on('message', wsOnMessage);
  }

  receive(data: Buffer | ArrayBuffer | Buffer[]): void {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (buffer.length > this.#maxFrameBytes) {
      this.handler?.invalid(new FrameTooLargeError(`Frame of ${buffer.length} bytes exceeds ${this.#maxFrameBytes}`), false);
      return;
    }
    this.handler?.frame(buffer.toString('utf8'));
  }

  /**
   * Every frame goes through `ws`, which frames (and compresses) it, with the TCP socket corked.
   * A connection whose offer of permessage-deflate `ws` did not take is written the same way.
   */
  write(frames: readonly (string | Buffer)[]): void {
    const ws = this.#ws;
    if ((this.#flags & CLOSED) !== 0 || ws.readyState !== 1) return;
    const deflate = this.#deflate;
    if (deflate !== undefined) {
      this.#writeCompressing(frames, deflate);
      return;
    }
    const raw = (ws as unknown as RawSocketOwner)._socket;
    raw?.cork();
    for (let i = 0; i < frames.length; i++) ws.send(frames[i] as string | Buffer, TEXT);
    raw?.uncork();
  }

  /**
   * Compresses the frames of at least `threshold` bytes. ws deflates each one with this socket's
   * own zlib stream, off the main thread, and keeps the order; the callback on the last frame
   * tells when the whole batch has reached the socket. A batch with nothing to compress is written
   * as without compression: at once, in one corked write.
   */
  #writeCompressing(frames: readonly (string | Buffer)[], deflate: Deflating): void {
    const ws = this.#ws;
    const threshold = deflate.threshold;
    const last = frames.length - 1;
    let compress = false;
    for (let i = 0; i <= last && !compress; i++) compress = (frames[i] as string | Buffer).length >= threshold;
    const raw = (ws as unknown as RawSocketOwner)._socket;
    raw?.cork();
    if (!compress) {
      for (let i = 0; i <= last; i++) ws.send(frames[i] as string | Buffer, TEXT_PLAIN);
    } else {
      for (let i = 0; i < last; i++) {
        const frame = frames[i] as string | Buffer;
        ws.send(frame, frame.length >= threshold ? TEXT_COMPRESSED : TEXT_PLAIN);
      }
      const frame = frames[last] as string | Buffer;
      deflate.compressing++;
      ws.send(frame, frame.length >= threshold ? TEXT_COMPRESSED : TEXT_PLAIN, deflate.onCompressed);
    }
    raw?.uncork();
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  end(): void {
    if (this.#ws.readyState <= 1) this.#ws.close(1000);
    // A peer that never answers the close handshake cannot hold the socket open forever.
    setTimeout(terminate, 2000, this.#ws).unref();
  }

  destroy(): void {
    this.#ws.terminate();
  }

  onClose(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    this.#flags |= CLOSED;
    this.handler?.closed();
  }
}

function terminate(ws: WebSocket): void {
  ws.terminate();
}

function wsOnMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[]): void {
  (this as HubWebSocket).connection?.receive(data);
}

function wsOnError(this: WebSocket): void {
  // 'close' follows; ws already reported the protocol violation to the peer.
}

function wsOnClose(this: WebSocket): void {
  (this as HubWebSocket).connection?.onClose();
}

function notFound(_request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
}

/** Accepts WebSocket connections, standalone or on an existing HTTP server. */
export class WsAdapter implements TransportAdapter {
  readonly transport = 'ws';
  readonly #options: WsAdapterOptions;
  readonly #http: Server;
  readonly #owned: boolean;
  readonly #wss: WebSocketServer;
  readonly #origins: OriginPolicy;
  /** The compression threshold, or undefined without permessage-deflate. */
  readonly #threshold: number | undefined;
  /** Limits of the connections without compression. */
  readonly #limits: WsLimits;
  #accept: ((socket: TransportSocket) => void) | undefined;
  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.#upgrade(request, socket, head);
  };

  constructor(options: WsAdapterOptions) {
    this.#options = options;
    this.#origins = resolveAllowedOrigins(options.allowedOrigins);
    const deflate = resolvePerMessageDeflate(options.perMessageDeflate);
    this.#threshold = deflate === false ? undefined : deflate.threshold;
    this.#owned = options.server === undefined;
    this.#http = options.server ?? createServer(options.requestHandler ?? notFound);
    this.#limits = { maxFrameBytes: options.maxFrameBytes, maxPayload: Math.max(options.maxFrameBytes, MAX_TCP_FRAME_BYTES) };
    this.#wss = new WebSocketServer({
      noServer: true,
      // Frames up to 4 MiB are read and answered with FRAME_TOO_LARGE; past that ws closes (1009).
      // With compression, ws applies the bound to the inflated size: no zip bomb gets through.
      maxPayload: this.#limits.maxPayload,
      perMessageDeflate: deflate === false ? false : wsDeflateOptions(deflate),
      clientTracking: false,
      WebSocket: HubWebSocket,
    });
  }

  /** The HTTP server carrying the upgrades. */
  get httpServer(): Server {
    return this.#http;
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    return boundAddress(this.#http);
  }

  listen(accept: (socket: TransportSocket) => void): Promise<void> {
    this.#accept = accept;
    this.#http.on('upgrade', this.#onUpgrade);
    if (!this.#owned || this.#http.listening) return Promise.resolve();
    return listenOn(this.#http, this.#options.port, this.#options.host, this.#options.onError);
  }

  stop(): Promise<void> {
    this.#http.off('upgrade', this.#onUpgrade);
    this.#accept = undefined;
    if (!this.#owned || !this.#http.listening) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#http.close(() => resolve());
      this.#http.closeIdleConnections();
    });
  }

  #accepts(request: IncomingMessage): boolean {
    const websocket = this.#options.websocket ?? true;
    if (typeof websocket === 'boolean') return websocket;
    try {
      return websocket(request) === true;
    } catch (error) {
      (this.#options.onError ?? console.error)(error);
      return false;
    }
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = this.#options.path;
    if (path !== undefined && (request.url ?? '/').split('?')[0] !== path) {
      // On a server of the application's, another handler may own this path.
      if (this.#owned) refuse(socket, refusalResponse({ status: 404, message: 'No WebSocket endpoint at this path' }));
      return;
    }
    const accept = this.#accept;
    if (accept === undefined) {
      socket.destroy();
      return;
    }
    const origin = request.headers.origin;
    if (!isOriginAllowed(this.#origins, origin, request.headers.host)) {
      refuse(socket, originResponse(origin as string));
      this.#options.onOriginRefused?.(origin as string, request);
      return;
    }
    if (!this.#accepts(request)) {
      refuse(socket, refusalResponse({ status: 403, message: 'WebSocket is turned off on this server: use the HTTP carrier' }));
      return;
    }
    const threshold = this.#threshold;
    if (threshold !== undefined && request.headers['sec-websocket-extensions']?.includes('permessage-deflate') === true) {
      // Compression is negotiated and carried by ws.
      const maxFrameBytes = this.#options.maxFrameBytes;
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        accept(new WsConnection(ws as HubWebSocket, request, maxFrameBytes, threshold));
      });
      return;
    }
    const checked = checkUpgrade(request);
    if ('status' in checked) {
      refuse(socket, refusalResponse(checked));
      return;
    }
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.write(acceptResponse(request.headers['sec-websocket-key'] as string, checked.protocol));
    accept(new WsSocket(socket as Socket, request, head, this.#limits));
  }
}

/** The answer to an upgrade from a page of a foreign origin: 403 and a JSON body. */
function originResponse(origin: string): string {
  const body = JSON.stringify(originRefusal(origin));
  return (
    `HTTP/1.1 ${ORIGIN_REFUSED_STATUS} Forbidden\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n\r\n${body}`
  );
}

/** Writes `response` (the HTTP answer to an upgrade this server does not take), then closes. */
function refuse(socket: Duplex, response: string): void {
  socket.on('error', refusedOnError);
  if (socket.writable) socket.end(response);
  // A peer that never reads the answer cannot hold the socket.
  setTimeout(destroySocket, 1000, socket).unref();
}

function refusedOnError(): void {
  // The peer went away before reading the refusal (ECONNRESET, EPIPE); 'close' follows. The HTTP
  // server no longer listens for errors on an upgraded socket: unheard, one would end the process.
}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}
