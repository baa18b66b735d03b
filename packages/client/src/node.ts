/**
 * `@msghub/client/node`: everything from `@msghub/client`, plus connectors for Node's `ws` and
 * TCP, and a {@link createClient} that picks one from the URL scheme.
 */
import WebSocket from 'ws';
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
  const { headers } = options;
  if (headers === undefined) return webSocketConnector(url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
  if (typeof headers !== 'object' || headers === null) {
    throw new InvalidOptionError(`Expected options.headers to be an object, got ${String(headers)}`);
  }
  class WebSocketWithHeaders extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  return webSocketConnector(url, { WebSocket: WebSocketWithHeaders as unknown as WebSocketConstructor });
}

/** The connector for `url`: `ws://`/`wss://` over `ws`, `tcp://host:port` over TCP. */
export function connectorFor(url: string, options: WsConnectorOptions = {}): Connector {
  if (typeof url === 'string' && url.startsWith('tcp://')) {
    const parsed = new URL(url);
    return tcpConnector({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port) });
  }
  if (typeof url === 'string' && /^wss?:\/\//.test(url)) return wsConnector(url, options);
  throw new InvalidOptionError(`Expected a ws://, wss:// or tcp:// URL, got ${String(url)}`);
}

/** Options of the Node {@link createClient}. */
export interface NodeClientOptions extends CreateClientOptions {
  /** Extra HTTP headers on the WebSocket upgrade request (ignored for `tcp://`). @default none */
  headers?: Record<string, string>;
}

/**
 * A client for Node: `url` is `ws://…`, `wss://…` or `tcp://host:port`.
 * @example
 * const client = createClient({ url: 'tcp://127.0.0.1:7000', token: 'secret' });
 */
export function createClient(options: NodeClientOptions): MsghubClient {
  const { url, headers, ...rest } = options;
  return new MsghubClient({ ...rest, connector: connectorFor(url, headers === undefined ? {} : { headers }) });
}
