/** Real clients over `ws` and `net` for the transport tests, with bounded waits. */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { HubServer, TcpFrameDecoder, encodeTcpFrames, type HubServerOptions, type ServerFrame } from '../src/index.js';

type Frame = ServerFrame & Record<string, unknown>;

export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  #read = 0;
  #wake: (() => void) | undefined;
  #isClosed = false;
  readonly #sendRaw: (text: string | Buffer) => void;
  readonly #end: () => void;

  private constructor(sendRaw: (text: string | Buffer) => void, end: () => void, closed: Promise<void>) {
    this.#sendRaw = sendRaw;
    this.#end = end;
    this.closed = closed.then(() => {
      this.#isClosed = true;
      this.#wake?.();
    });
  }

  static all = new Set<TestClient>();

  static async ws(url: string, headers?: Record<string, string>): Promise<TestClient> {
    const ws = new WebSocket(url, { headers });
    let client!: TestClient;
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    client = new TestClient((text) => ws.send(text), () => ws.terminate(), closed);
    ws.on('message', (data) => client.push(JSON.parse(String(data)) as Frame));
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    TestClient.all.add(client);
    return client;
  }

  static async tcp(port: number): Promise<TestClient> {
    const socket: Socket = connect(port, '127.0.0.1');
    const decoder = new TcpFrameDecoder(4 * 1024 * 1024);
    let client!: TestClient;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    client = new TestClient(
      (text) => socket.write(typeof text === 'string' ? encodeTcpFrames([text]) : text),
      () => socket.destroy(),
      closed,
    );
    socket.on('data', (chunk) => {
      for (const text of decoder.push(chunk)) client.push(JSON.parse(text) as Frame);
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    TestClient.all.add(client);
    return client;
  }

  /**
   * A client of the HTTP carrier at `base` (`http://host:port`): reads the SSE stream, POSTs what
   * it sends (one POST at a time, each carrying what queued meanwhile) and acknowledges what it read.
   */
  static async http(base: string, query = ''): Promise<TestClient> {
    const abort = new AbortController();
    const response = await fetch(`${base}/_http${query}`, { signal: abort.signal });
    if (response.status !== 200 || response.body === null) throw new Error(`GET /_http answered ${response.status}`);
    const body = response.body;
    let client!: TestClient;
    let sid = '';
    let seen = 0;
    let queue: (string | Buffer)[] = [];
    let posting = false;
    let ackTimer: NodeJS.Timeout | undefined;
    let ackWanted = false;
    const post = async (): Promise<void> => {
      posting = true;
      while (queue.length > 0 || ackWanted) {
        ackWanted = false;
        const body = queue;
        queue = [];
        const text = Buffer.concat(body.map((part, i) => Buffer.concat([i === 0 ? Buffer.alloc(0) : Buffer.from('\n'), Buffer.from(part)])));
        const answer = await fetch(`${base}/_http/${sid}?seen=${seen}`, { method: 'POST', body: text, signal: abort.signal }).catch(() => undefined);
        await answer?.arrayBuffer().catch(() => undefined);
      }
      posting = false;
    };
    const send = (text: string | Buffer): void => {
      queue.push(text);
      if (!posting) void post();
    };
    const closed = (async () => {
      try {
        await readSse(body, (fields) => {
          const data = fields.get('data') ?? '';
          if (fields.get('event') === 'open') sid = (JSON.parse(data) as { sid: string }).sid;
          else if (fields.get('event') === 'end') return false;
          else {
            seen = Number(fields.get('id'));
            client.push(JSON.parse(data) as Frame);
            ackTimer ??= setTimeout(() => {
              ackTimer = undefined;
              ackWanted = true;
              if (!posting) void post();
            }, 20);
          }
          return true;
        });
      } catch {
        // Aborted by close().
      } finally {
        clearTimeout(ackTimer);
        abort.abort();
      }
    })();
    client = new TestClient(send, () => abort.abort(), closed);
    for (const deadline = Date.now() + 2000; sid === ''; ) {
      if (Date.now() > deadline) throw new Error('no open event');
      await delay(2);
    }
    TestClient.all.add(client);
    return client;
  }

  static async closeAll(): Promise<void> {
    for (const client of TestClient.all) client.close();
    await Promise.all([...TestClient.all].map((client) => client.closed));
    TestClient.all.clear();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  push(frame: Frame): void {
    this.frames.push(frame);
    this.#wake?.();
  }

  /** Sends a frame object, or raw text (a JSON frame body), or raw bytes (TCP: no prefix added). */
  send(frame: object | string | Buffer): void {
    this.#sendRaw(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** The next unread frame that matches `type` (others before it are skipped). */
  async next(type?: string, timeoutMs = 2000): Promise<Frame> {
    return this.waitFor((frame) => type === undefined || frame.type === type, timeoutMs, type);
  }

  async waitFor(match: (frame: Frame) => boolean, timeoutMs = 2000, what = 'a matching frame'): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#read < this.frames.length) {
        const frame = this.frames[this.#read++] as Frame;
        if (match(frame)) return frame;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#isClosed) {
        throw new Error(`Timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Sends hello with `user` and waits for welcome. */
  async hello(fields: Record<string, unknown>): Promise<Frame> {
    this.send({ type: 'hello', v: 1, ...fields });
    return this.next('welcome');
  }

  close(): void {
    this.#end();
  }
}

export interface Running {
  server: HubServer;
  wsUrl: string;
  /** `http://127.0.0.1:<port>`: the same listener as `wsUrl`. */
  httpUrl: string;
  tcpPort: number;
  ws(): Promise<TestClient>;
  tcp(): Promise<TestClient>;
  /** A client of the HTTP carrier. */
  http(): Promise<TestClient>;
  /** A WebSocket client past welcome as `user`. */
  user(user: string, carrier?: Carrier): Promise<TestClient>;
}

/** The carriers a {@link Running} server accepts. */
export type Carrier = 'ws' | 'tcp' | 'http';

const servers = new Set<HubServer>();

/**
 * A server for WebSocket and TCP (on port 0 unless `ports` names them), trusting client user ids
 * unless told otherwise.
 */
export async function startServer(options: HubServerOptions = {}, ports: { ws?: number; tcp?: number } = {}): Promise<Running> {
  const server = new HubServer({ trustClientUser: true, ...options });
  servers.add(server);
  const { ws, tcp } = await server.listen({ ws: { port: ports.ws ?? 0 }, tcp: { port: ports.tcp ?? 0 } });
  const wsUrl = `ws://127.0.0.1:${ws?.port ?? 0}/`;
  const tcpPort = tcp?.port ?? 0;
  const httpUrl = `http://127.0.0.1:${ws?.port ?? 0}`;
  return {
    server,
    wsUrl,
    httpUrl,
    tcpPort,
    ws: () => TestClient.ws(wsUrl),
    tcp: () => TestClient.tcp(tcpPort),
    http: () => TestClient.http(httpUrl),
    async user(user, carrier = 'ws') {
      const client = carrier === 'ws' ? await TestClient.ws(wsUrl) : carrier === 'tcp' ? await TestClient.tcp(tcpPort) : await TestClient.http(httpUrl);
      await client.hello({ user });
      return client;
    },
  };
}

/** Closes every client and server the test created. */
export async function cleanup(): Promise<void> {
  await TestClient.closeAll();
  await Promise.all([...servers].map((server) => server.close()));
  servers.clear();
}

/**
 * Reads a Server-Sent Events body, handing each event's fields (`event`, `id`, `data`) to `onEvent`
 * until the body ends or `onEvent` returns false.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (fields: Map<string, string>) => boolean): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    pending += decoder.decode(value, { stream: true });
    let at: number;
    while ((at = pending.indexOf('\n\n')) >= 0) {
      const block = pending.slice(0, at);
      pending = pending.slice(at + 2);
      // Lines end at LF only: a frame may hold U+2028, which a regex `$` would take for an end.
      const fields = new Map(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
      if (!onEvent(fields)) return;
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A carrier for tests: its sockets live in memory and stall (need a drain) on demand. */
export class MemorySocket {
  readonly transport = 'memory';
  readonly remoteAddress = undefined;
  readonly handshake = { headers: {}, query: {}, url: undefined };
  readonly written: string[] = [];
  bufferedAmount = 0;
  needsDrain = false;
  ended = false;
  handler: import('../src/index.js').SocketHandler | undefined;

  start(handler: import('../src/index.js').SocketHandler): void {
    this.handler = handler;
  }
  write(frames: readonly string[]): void {
    this.written.push(...frames);
  }
  pause(): void {}
  resume(): void {}
  end(): void {
    this.ended = true;
    this.handler?.closed();
  }
  destroy(): void {
    this.end();
  }
  /** Sends a frame from the client side. */
  send(frame: object): void {
    this.handler?.frame(JSON.stringify(frame));
  }
  /** Frames written so far, parsed. */
  frames(): Record<string, unknown>[] {
    return this.written.map((text) => JSON.parse(text) as Record<string, unknown>);
  }
  /** Lets the socket take writes again. */
  drain(): void {
    this.needsDrain = false;
    this.handler?.drain();
  }
}

export class MemoryAdapter {
  readonly transport = 'memory';
  #accept: ((socket: import('../src/index.js').TransportSocket) => void) | undefined;
  async listen(accept: (socket: import('../src/index.js').TransportSocket) => void): Promise<void> {
    this.#accept = accept;
  }
  async stop(): Promise<void> {
    this.#accept = undefined;
  }
  connect(): MemorySocket {
    const socket = new MemorySocket();
    this.#accept?.(socket);
    return socket;
  }
}
