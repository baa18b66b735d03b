import { MsghubClient } from './client.js';
import type { ClientOptions } from './options.js';
import { webSocketConnector } from './ws-connector.js';

/** Options of {@link createClient}: a URL instead of a connector. */
export interface CreateClientOptions extends Omit<ClientOptions, 'connector'> {
  /** The server's WebSocket URL (`ws://` or `wss://`). */
  url: string;
}

/**
 * A client over the platform's WebSocket (the browser's native one).
 * @example
 * const client = createClient({ url: 'wss://chat.example/hub', token: () => fetchToken() });
 */
export function createClient(options: CreateClientOptions): MsghubClient {
  const { url, ...rest } = options;
  return new MsghubClient({ ...rest, connector: webSocketConnector(url) });
}
