import type { Connection, ConnectionHandlers, Connector } from './connector.js';
import { ConnectionFailedError, InvalidOptionError } from './errors.js';

/** The part of the WebSocket API the client uses; the browser's `WebSocket` and `ws` both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((this: WebSocketLike, event: unknown) => void) | null;
  onmessage: ((this: WebSocketLike, event: { data: unknown }) => void) | null;
  onclose: ((this: WebSocketLike, event: { code: number; reason: string }) => void) | null;
  onerror: ((this: WebSocketLike, event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: the browser's global `WebSocket`, or `ws`'s default export in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of {@link webSocketConnector}. */
export interface WebSocketConnectorOptions {
  /** The WebSocket implementation. @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols offered in the handshake. @default none */
  protocols?: string | string[];
}

const CLOSED = 3;

/**
 * A connector for WebSocket URLs (`ws://`, `wss://`). In the browser it uses the native
 * `WebSocket`; in Node pass `ws` (or use `@msghub/client/node`, which does).
 * @example
 * const client = new MsghubClient({ connector: webSocketConnector('wss://chat.example/hub') });
 */
export function webSocketConnector(url: string, options: WebSocketConnectorOptions = {}): Connector {
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) {
    throw new InvalidOptionError(`Expected a ws:// or wss:// URL, got ${String(url)}`);
  }
  const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Impl === undefined) {
    throw new InvalidOptionError(
      'No WebSocket implementation: pass options.WebSocket, or import from @msghub/client/node',
    );
  }
  return function openWebSocket(handlers: ConnectionHandlers): Connection {
    return new WebSocketConnection(new Impl(url, options.protocols), handlers);
  };
}

const connections = new WeakMap<WebSocketLike, WebSocketConnection>();

/** Adapts one WebSocket to {@link Connection}; reports `onClose` exactly once. */
class WebSocketConnection implements Connection {
  readonly carrier = 'websocket';
  readonly #socket: WebSocketLike;
  readonly handlers: ConnectionHandlers;
  error: Error | undefined;
  #closed = false;

  constructor(socket: WebSocketLike, handlers: ConnectionHandlers) {
    this.#socket = socket;
    this.handlers = handlers;
    connections.set(socket, this);
    socket.onopen = socketOnOpen;
    socket.onmessage = socketOnMessage;
    socket.onerror = socketOnError;
    socket.onclose = socketOnClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(text: string): void {
    this.#socket.send(text);
  }

  close(): void {
    if (this.#closed) return;
    if (this.#socket.readyState !== CLOSED) this.#socket.close(1000);
    // A socket that never opened may report its close late or not at all: report it now.
    this.end(undefined);
  }

  end(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.#socket;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    // Keep a no-op error handler: `ws` throws on an `error` event nobody listens to.
    socket.onerror = noop;
    this.handlers.onClose(error);
  }
}

function socketOnOpen(this: WebSocketLike): void {
  connections.get(this)?.handlers.onOpen();
}

function socketOnMessage(this: WebSocketLike, event: { data: unknown }): void {
  const connection = connections.get(this);
  if (connection === undefined || connection.closed) return;
  connection.handlers.onFrame(typeof event.data === 'string' ? event.data : String(event.data));
}

function socketOnError(this: WebSocketLike): void {
  const connection = connections.get(this);
  if (connection !== undefined) connection.error ??= new ConnectionFailedError('WebSocket error');
}

function socketOnClose(this: WebSocketLike, event: { code: number; reason: string }): void {
  const connection = connections.get(this);
  if (connection === undefined) return;
  const clean = event.code === 1000;
  const detail = `WebSocket closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`;
  connection.end(clean ? connection.error : (connection.error ?? new ConnectionFailedError(detail)));
}

function noop(): void {}
