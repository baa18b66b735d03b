/**
 * `@msghub/client/node`: everything from `@msghub/client`, plus connectors for Node's `ws` and
 * TCP, and a {@link createClient} that picks one from the URL scheme.
 */
import WebSocket from 'ws';
import { autoConnector, type CarrierOption, type FallbackOptions } from './carrier-choice.js';
import { MsghubClient } from './client.js';
import type { Connector } from './connector.js';
import type { CreateClientOptions } from './create-client.js';
import { InvalidOptionError } from './errors.js';
import { tcpConnector } from './tcp-connector.js';
import { webSocketConnector, type WebSocketConstructor } from './ws-connector.js';

export * from './index.js';
export { tcpConnector } from './tcp-connector.js';
export type { TcpConnectorOptions } from './tcp-connector.js';

/** Options of {@link wsConnector}. */
export interface WsConnectorOptions {
  /** Extra HTTP headers on the upgrade request (credentials a server's authenticator reads). @default none */
  headers?: Record<string, string>;
}

/**
 * A connector for `ws://` and `wss://` URLs using the `ws` package.
 * @example
 * const client = new MsghubClient({
 *   connector: wsConnector('ws://127.0.0.1:8080/hub', { headers: { authorization: `Bearer ${jwt}` } }),
 * });
 */
export function wsConnector(url: string, options: WsConnectorOptions = {}): Connector {
  return webSocketConnector(url, { WebSocket: nodeWebSocket(options.headers) });
}

/** `ws` as a {@link WebSocketConstructor}, sending `headers` with every upgrade. */
function nodeWebSocket(headers: Record<string, string> | undefined): WebSocketConstructor {
  if (headers === undefined) return WebSocket as unknown as WebSocketConstructor;
  if (typeof headers !== 'object' || headers === null) {
    throw new InvalidOptionError(`Expected options.headers to be an object, got ${String(headers)}`);
  }
  class WebSocketWithHeaders extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  return WebSocketWithHeaders as unknown as WebSocketConstructor;
}

/** Options of {@link connectorFor}. */
export interface ConnectorForOptions extends WsConnectorOptions, FallbackOptions {
  /** For `ws://` and `wss://` URLs. @default 'auto' */
  carrier?: CarrierOption;
}

/**
 * The connector for `url`: `tcp://host:port` over TCP; `ws://`/`wss://` over WebSocket (`ws`)
 * with the HTTP carrier at the same host and path as fallback, as `carrier` and the fallback
 * options say.
 */
export function connectorFor(url: string, options: ConnectorForOptions = {}): Connector {
  if (typeof url === 'string' && url.startsWith('tcp://')) {
    const parsed = new URL(url);
    return tcpConnector({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port) });
  }
  if (typeof url === 'string' && /^wss?:\/\//.test(url)) {
    const { headers, carrier, ...fallback } = options;
    return autoConnector(url, {
      ...fallback,
      ...(carrier === undefined ? {} : { carrier }),
      WebSocket: nodeWebSocket(headers),
      ...(headers === undefined ? {} : { http: { headers } }),
    });
  }
  throw new InvalidOptionError(`Expected a ws://, wss:// or tcp:// URL, got ${String(url)}`);
}

/** Options of the Node {@link createClient}. */
export interface NodeClientOptions extends CreateClientOptions {
  /** Extra HTTP headers on the WebSocket upgrade request and the HTTP carrier's requests (ignored for `tcp://`). @default none */
  headers?: Record<string, string>;
}

/**
 * A client for Node: `url` is `ws://…`, `wss://…` (WebSocket, with the HTTP carrier as
 * fallback; `carrier` forces one) or `tcp://host:port`.
 * @example
 * const client = createClient({ url: 'tcp://127.0.0.1:7000', token: 'secret' });
 */
export function createClient(options: NodeClientOptions): MsghubClient {
  const { url, headers, carrier, fallback, ...rest } = options;
  const connector = connectorFor(url, { ...fallback, ...(carrier === undefined ? {} : { carrier }), ...(headers === undefined ? {} : { headers }) });
  return new MsghubClient({ ...rest, connector });
}
