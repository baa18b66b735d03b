/** Binding a listening socket, shared by the TCP and WebSocket adapters. */
import type { AddressInfo, Server } from 'node:net';

/** Listens on `port` (0 = any free port) and `host`; rejects on a bind error such as EADDRINUSE. */
export function listenOn(server: Server, port = 0, host = '127.0.0.1'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The address a server is bound to, or undefined before it listens. */
export function boundAddress(server: Server): AddressInfo | undefined {
  const address = server.address();
  return address !== null && typeof address === 'object' ? address : undefined;
}
