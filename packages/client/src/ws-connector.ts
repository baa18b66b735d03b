import type { Connection, ConnectionHandlers, Connector } from './connector.js';
import { ConnectionFailedError, InvalidOptionError } from './errors.js';

/** The part of the WebSocket API the client uses; the browser's `WebSocket` and `ws` both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
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

/** Adapts one WebSocket to {@link Connection}; reports `onClose` exactly once. */
class WebSocketConnection implements Connection {
  readonly #socket: WebSocketLike;
  readonly #handlers: ConnectionHandlers;
  #error: Error | undefined;
  #closed = false;

  constructor(socket: WebSocketLike, handlers: ConnectionHandlers) {
    this.#socket = socket;
    this.#handlers = handlers;
    socket.onopen = () => handlers.onOpen();
    socket.onmessage = (event) => this.#message(event.data);
    socket.onerror = () => {
      this.#error ??= new ConnectionFailedError('WebSocket error');
    };
    socket.onclose = (event) => this.#end(event.code === 1000 ? this.#error : this.#closeError(event));
  }

  send(text: string): void {
    this.#socket.send(text);
  }

  close(): void {
    if (this.#closed) return;
    if (this.#socket.readyState !== CLOSED) this.#socket.close(1000);
    // A socket that never opened may not report a close promptly; report it now.
    this.#end(undefined);
  }

  #message(data: unknown): void {
    if (this.#closed) return;
    if (typeof data === 'string') this.#handlers.onFrame(data);
    else this.#handlers.onFrame(String(data));
  }

  #closeError(event: { code: number; reason: string }): Error {
    return this.#error ?? new ConnectionFailedError(`WebSocket closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`);
  }

  #end(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    const socket = this.#socket;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = noop;
    this.#handlers.onClose(error);
  }
}

function noop(): void {}
