/**
 * WebSocket carrier through `ws`: one text message per frame. It runs on its own HTTP server
 * (which also serves the server's assets) or attaches to an existing `http.Server` at a path.
 * A batch of frames is written with the TCP socket corked, so many messages leave in one system
 * call while each stays its own WebSocket message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Handshake, SocketHandler, TransportAdapter, TransportSocket } from './adapter.js';
import { FrameTooLargeError } from './errors.js';
import { boundAddress, listenOn } from './listening.js';
import { MAX_TCP_FRAME_BYTES } from './protocol.js';

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
}

const TEXT = { binary: false } as const;
type RawSocketOwner = { _socket?: Socket };

/** A `ws` socket that knows its connection, so module-level handlers find it through `this`. */
class HubWebSocket extends WebSocket {
  connection: WsConnection | undefined = undefined;
}

class WsConnection implements TransportSocket {
  readonly transport = 'ws';
  readonly handshake: Handshake;
  readonly remoteAddress: string | undefined;
  readonly #ws: HubWebSocket;
  readonly #maxFrameBytes: number;
  handler: SocketHandler | undefined;
  #closed = false;
  /** Made the first time the socket needs a drain; most connections never do. */
  #onDrain: (() => void) | undefined;
  #drainArmed = false;

  constructor(ws: HubWebSocket, request: IncomingMessage, maxFrameBytes: number) {
    this.#ws = ws;
    this.#maxFrameBytes = maxFrameBytes;
    this.remoteAddress = request.socket.remoteAddress;
    this.handshake = readHandshake(request);
    ws.connection = this;
    ws.on('error', wsOnError);
    ws.on('close', wsOnClose);
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  get needsDrain(): boolean {
    const raw = (this.#ws as unknown as RawSocketOwner)._socket;
    if (raw === undefined || !raw.writableNeedDrain) return false;
    if (!this.#drainArmed) {
      this.#drainArmed = true;
      this.#onDrain ??= () => {
        this.#drainArmed = false;
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

  write(frames: readonly (string | Buffer)[]): void {
    const ws = this.#ws;
    if (this.#closed || ws.readyState !== 1) return;
    const raw = (ws as unknown as RawSocketOwner)._socket;
    raw?.cork();
    // A Buffer is a frame's UTF-8 text shared by many connections: sent as a text message, uncopied.
    for (let i = 0; i < frames.length; i++) ws.send(frames[i] as string | Buffer, TEXT);
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
    if (this.#closed) return;
    this.#closed = true;
    this.handler?.closed();
  }

}

function readHandshake(request: IncomingMessage): Handshake {
  const query: Record<string, string> = {};
  const url = request.url;
  if (url !== undefined) {
    const at = url.indexOf('?');
    if (at >= 0) for (const [name, value] of new URLSearchParams(url.slice(at + 1))) query[name] = value;
  }
  return { headers: request.headers, query, url };
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
  #accept: ((socket: TransportSocket) => void) | undefined;
  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.#upgrade(request, socket, head);
  };

  constructor(options: WsAdapterOptions) {
    this.#options = options;
    this.#owned = options.server === undefined;
    this.#http = options.server ?? createServer(options.requestHandler ?? notFound);
    this.#wss = new WebSocketServer({
      noServer: true,
      // Frames up to 4 MiB are read and answered with FRAME_TOO_LARGE; past that ws closes (1009).
      maxPayload: Math.max(options.maxFrameBytes, MAX_TCP_FRAME_BYTES),
      perMessageDeflate: false,
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
      // Another handler on a shared server may own this path.
      if (this.#owned) socket.destroy();
      return;
    }
    const accept = this.#accept;
    if (accept === undefined) {
      socket.destroy();
      return;
    }
    if (!this.#accepts(request)) {
      const body = 'WebSocket is turned off on this server: use the HTTP carrier\n';
      socket.end(`HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    const maxFrameBytes = this.#options.maxFrameBytes;
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      accept(new WsConnection(ws as HubWebSocket, request, maxFrameBytes));
    });
  }
}
