import { autoConnector, type CarrierOption, type FallbackOptions } from './carrier-choice.js';
import { MsghubClient } from './client.js';
import type { ClientOptions } from './options.js';

/** Options of {@link createClient}: a URL instead of a connector. */
export interface CreateClientOptions extends Omit<ClientOptions, 'connector'> {
  /** The server's WebSocket URL (`ws://` or `wss://`; `http://`/`https://` name the same server). */
  url: string;
  /**
   * `auto`: WebSocket, and the HTTP carrier when WebSocket is missing or fails (see `fallback`);
   * `websocket` or `http` force one. @default 'auto'
   */
  carrier?: CarrierOption;
  /** When `auto` falls back to HTTP and tries WebSocket again. @default `{ webSocketFailures: 2, retryWebSocketAfterMs: 60000 }` */
  fallback?: FallbackOptions;
}

/**
 * A client over the platform's WebSocket (the browser's native one), falling back to the HTTP
 * carrier (`fetch`) when WebSocket is missing or blocked.
 * @example
 * const client = createClient({ url: 'wss://chat.example/hub', token: () => fetchToken() });
 */
export function createClient(options: CreateClientOptions): MsghubClient {
  const { url, carrier, fallback, ...rest } = options;
  return new MsghubClient({ ...rest, connector: autoConnector(url, { ...fallback, ...(carrier === undefined ? {} : { carrier }) }) });
}
