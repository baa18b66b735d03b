import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { HubServer, type HubServerOptions, type WebSocketOption } from '@msghub/transport';
import { firstValueFrom, filter, type Observable } from 'rxjs';

/** A reconnect backoff for tests: 20 ms, up to 100 ms, no jitter. */
export const fast = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 };

/** The real msghub server on loopback, with a way to cut every live socket mid-stream. */
export interface TestServer {
  readonly server: HubServer;
  /** WebSocket URL (`ws://127.0.0.1:<port>/hub`). */
  readonly wsUrl: string;
  /** TCP URL (`tcp://127.0.0.1:<port>`), through a forwarding proxy the test can cut. */
  readonly tcpUrl: string;
  /** Plain HTTP base URL (assets). */
  readonly httpUrl: string;
  /** The ports clients connect to, to start the next server on after a restart. */
  readonly ports: ServerPorts;
  /** Destroys every live connection at once, as a crashed network path or server socket would. */
  dropAll(): void;
  /** Turns every live TCP path into a black hole: nothing more gets through, nothing closes. */
  freezeTcp(): void;
  close(): Promise<void>;
}

/** The ports a {@link TestServer} listens on for clients: WebSocket/HTTP and the TCP proxy. */
export interface ServerPorts {
  readonly http: number;
  readonly tcp: number;
}

function listen(server: HttpServer | TcpServer, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: HttpServer | TcpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function track(sockets: Set<Socket>, socket: Socket): void {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
}

/** One proxied TCP connection; once frozen it forwards nothing, not even a close. */
class ProxyPair {
  frozen = false;

  constructor(
    readonly downstream: Socket,
    readonly upstream: Socket,
  ) {
    this.#forward(downstream, upstream);
    this.#forward(upstream, downstream);
  }

  #forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!this.frozen) to.write(chunk);
    });
    from.on('error', () => {});
    from.on('close', () => {
      if (!this.frozen) to.destroy();
    });
  }
}

/**
 * Starts a {@link HubServer}: WebSocket (as `carriers.websocket` says) and the HTTP carrier
 * attached at `carriers.path` (default `/hub`) to an HTTP server this harness owns
 * (so it can destroy the server's own sockets), and TCP behind a proxy on loopback. With `ports`
 * (those of a server closed before) it listens where that one did, as a restarted server would.
 */
export async function startServer(options: HubServerOptions = {}, ports?: ServerPorts, carriers: { websocket?: WebSocketOption; path?: string } = {}): Promise<TestServer> {
  const { path = '/hub', websocket = true } = carriers;
  const server = new HubServer({ trustClientUser: true, onError: () => {}, ...options });
  const sockets = new Set<Socket>();
  const http = createHttpServer((request, response) => {
    if (!server.httpHandler(request, response)) response.writeHead(404).end();
  });
  http.on('connection', (socket: Socket) => track(sockets, socket));
  await server.attach(http, { path, websocket });
  const httpPort = await listen(http, ports?.http);
  const { tcp } = await server.listen({ tcp: { port: 0, host: '127.0.0.1' } });
  const upstreamPort = tcp!.port;
  const pairs = new Set<ProxyPair>();
  const proxy = createTcpServer((downstream) => {
    const pair = new ProxyPair(downstream, connect({ host: '127.0.0.1', port: upstreamPort }));
    pairs.add(pair);
    track(sockets, pair.downstream);
    track(sockets, pair.upstream);
    pair.upstream.once('close', () => pairs.delete(pair));
  });
  const proxyPort = await listen(proxy, ports?.tcp);
  return {
    server,
    wsUrl: `ws://127.0.0.1:${httpPort}${path}`,
    tcpUrl: `tcp://127.0.0.1:${proxyPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    ports: { http: httpPort, tcp: proxyPort },
    dropAll() {
      for (const socket of [...sockets]) socket.destroy();
    },
    freezeTcp() {
      for (const pair of pairs) pair.frozen = true;
    },
    async close() {
      for (const socket of [...sockets]) socket.destroy();
      await server.close();
      http.closeAllConnections();
      await Promise.all([closeServer(http), closeServer(proxy)]);
    },
  };
}

/** The first value of `source` that satisfies `predicate`, or a rejection after `ms`. */
export function waitFor<T>(source: Observable<T>, predicate: (value: T) => boolean, ms = 5000): Promise<T> {
  return Promise.race([
    firstValueFrom(source.pipe(filter(predicate))),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no matching value within ${ms} ms`)), ms).unref()),
  ]);
}

/** Polls `condition` every 5 ms until it holds, failing after `ms`. */
export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
