/** Binding a listening socket, shared by the TCP and WebSocket adapters. */
import type { AddressInfo, Server } from 'node:net';

/**
 * Listens on `port` (0 = any free port) and `host`; rejects on a bind error such as EADDRINUSE.
 * Once bound, the server's errors (an accept failing with EMFILE when file descriptors run out) go
 * to `onError`: an `error` event nobody listens to would crash the process.
 */
export function listenOn(server: Server, port = 0, host = '127.0.0.1', onError: (error: Error) => void = reportToConsole): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', onError);
      resolve();
    });
  });
}

function reportToConsole(error: Error): void {
  console.error('msghub transport: listener error:', error);
}

/** The address a server is bound to, or undefined before it listens. */
export function boundAddress(server: Server): AddressInfo | undefined {
  const address = server.address();
  return address !== null && typeof address === 'object' ? address : undefined;
}
