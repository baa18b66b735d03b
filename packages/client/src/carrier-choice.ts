/**
 * Which carrier the next connection attempt uses: WebSocket first, the HTTP carrier when
 * WebSocket is missing or keeps failing, and WebSocket again after a while (docs/client.md,
 * Carriers).
 */
import type { Connection, ConnectionHandlers, Connector } from './connector.js';
import { InvalidOptionError } from './errors.js';
import { httpConnector, type HttpConnectorOptions } from './http-connector.js';
import { checkNumber, describe } from './options.js';
import { webSocketConnector, type WebSocketConstructor } from './ws-connector.js';

/** The carrier a client uses: `auto` picks one by itself; the others force theirs. */
export type CarrierOption = 'auto' | 'websocket' | 'http';

/** The carriers a connection of {@link autoConnector} runs on. */
export type Carrier = 'websocket' | 'http';

/** When `auto` leaves WebSocket for the HTTP carrier, and when it tries WebSocket again. */
export interface FallbackOptions {
  /**
   * WebSocket attempts in a row that fail before they open (the upgrade refused, a proxy that
   * drops it, the server unreachable) after which the client uses the HTTP carrier. @default 2
   */
  webSocketFailures?: number;
  /**
   * How long the client stays on the HTTP carrier before its next connection attempt tries
   * WebSocket again (one failure brings it back to HTTP). @default 60000
   */
  retryWebSocketAfterMs?: number;
}

/** Options of {@link autoConnector}. */
export interface AutoConnectorOptions extends FallbackOptions {
  /** @default 'auto' */
  carrier?: CarrierOption;
  /** The WebSocket implementation. @default globalThis.WebSocket (none: the HTTP carrier) */
  WebSocket?: WebSocketConstructor;
  /** Options of the HTTP carrier. @default see {@link HttpConnectorOptions} */
  http?: HttpConnectorOptions;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

const CARRIERS: readonly CarrierOption[] = ['auto', 'websocket', 'http'];

/**
 * A connector that picks the carrier for each attempt. `url` is the server's WebSocket URL
 * (`ws://`, `wss://`) or its HTTP form (`http://`, `https://`): the other one is derived by the
 * scheme (the HTTP carrier lives at `<path>/_http` on the same host).
 *
 * With `carrier: 'auto'` (the default): WebSocket while it works; the HTTP carrier when there is
 * no WebSocket implementation, when constructing one throws, or after `webSocketFailures`
 * WebSocket attempts in a row failed before they opened. An HTTP attempt that fails before it
 * opens, with no HTTP connection made since the switch, means the server itself is unreachable:
 * the next attempt is WebSocket again. After `retryWebSocketAfterMs` on HTTP, the next attempt
 * (a reconnect) tries WebSocket again.
 * @example
 * const client = new MsghubClient({ connector: autoConnector('wss://chat.example/hub') });
 */
export function autoConnector(url: string, options: AutoConnectorOptions = {}): Connector {
  if (typeof url !== 'string' || !/^(wss?|https?):\/\//.test(url)) {
    throw new InvalidOptionError(`Expected a ws://, wss://, http:// or https:// URL, got ${describe(url)}`);
  }
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`Expected options to be an object, got ${describe(options)}`);
  const carrier = options.carrier ?? 'auto';
  if (!CARRIERS.includes(carrier)) {
    throw new InvalidOptionError(`Expected options.carrier to be 'auto', 'websocket' or 'http', got ${describe(carrier)}`);
  }
  checkNumber('options.webSocketFailures', options.webSocketFailures, 1, true);
  checkNumber('options.retryWebSocketAfterMs', options.retryWebSocketAfterMs, 0);
  const wsUrl = url.replace(/^http/, 'ws');
  const http = httpConnector(url.replace(/^ws/, 'http'), options.http);
  const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (carrier === 'http') return http;
  if (carrier === 'websocket' || Impl === undefined) {
    // Forced, or nothing to fall back from: no WebSocket here at all means HTTP every time.
    return carrier === 'websocket' ? webSocketConnector(wsUrl, { WebSocket: needWebSocket(Impl) }) : http;
  }
  const ws = webSocketConnector(wsUrl, { WebSocket: Impl });
  const choice = new CarrierChoice(options.webSocketFailures ?? 2, options.retryWebSocketAfterMs ?? 60_000, options.now ?? Date.now);
  return function openAuto(handlers: ConnectionHandlers): Connection {
    const carrier = choice.next();
    const watched = choice.watch(carrier, handlers);
    if (carrier === 'http') return http(watched);
    try {
      return ws(watched);
    } catch {
      // A WebSocket the page may not construct (a content security policy): HTTP for this one.
      choice.failed('websocket');
      choice.fallBack();
      return http(choice.watch('http', handlers));
    }
  };
}

function needWebSocket(Impl: WebSocketConstructor | undefined): WebSocketConstructor {
  if (Impl === undefined) throw new InvalidOptionError("carrier 'websocket' needs a WebSocket implementation: pass options.WebSocket");
  return Impl;
}

/** The fallback state of one `auto` connector, shared by its attempts. */
class CarrierChoice {
  readonly #failuresAllowed: number;
  readonly #retryAfterMs: number;
  readonly #now: () => number;
  #current: Carrier = 'websocket';
  #webSocketFailures = 0;
  /** When the client last switched to HTTP, and whether an HTTP connection opened since. */
  #httpSince = 0;
  #httpOpened = false;

  constructor(failuresAllowed: number, retryAfterMs: number, now: () => number) {
    this.#failuresAllowed = failuresAllowed;
    this.#retryAfterMs = retryAfterMs;
    this.#now = now;
  }

  next(): Carrier {
    if (this.#current === 'http' && this.#now() - this.#httpSince >= this.#retryAfterMs) {
      // One WebSocket attempt; if it fails, back to HTTP at once.
      this.#current = 'websocket';
      this.#webSocketFailures = this.#failuresAllowed - 1;
    }
    return this.#current;
  }

  /** Handlers that report to `handlers` and tell the choice whether the attempt opened. */
  watch(carrier: Carrier, handlers: ConnectionHandlers): ConnectionHandlers {
    let opened = false;
    return {
      onOpen: () => {
        opened = true;
        this.#opened(carrier);
        handlers.onOpen();
      },
      onFrame: (text) => handlers.onFrame(text),
      onClose: (error) => {
        if (!opened) this.failed(carrier);
        handlers.onClose(error);
      },
    };
  }

  failed(carrier: Carrier): void {
    if (carrier === 'websocket') {
      if (++this.#webSocketFailures >= this.#failuresAllowed) this.fallBack();
    } else if (!this.#httpOpened) {
      // Neither carrier got through: the server is away, not WebSocket blocked.
      this.#current = 'websocket';
      this.#webSocketFailures = 0;
    }
  }

  fallBack(): void {
    if (this.#current === 'http') return;
    this.#current = 'http';
    this.#httpSince = this.#now();
    this.#httpOpened = false;
  }

  #opened(carrier: Carrier): void {
    if (carrier === 'websocket') {
      this.#webSocketFailures = 0;
      this.#current = 'websocket';
    } else {
      this.#httpOpened = true;
    }
  }
}
