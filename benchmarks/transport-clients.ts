/**
 * Client side of benchmarks/transport.bench.ts: opens N connections to one system, then counts
 * what arrives. One process for all clients, apart from the server's. Driven over IPC:
 *   ← {ready}                               all connected (msghub: and past welcome)
 *   → {cmd:'join', batch?, quiet?}    ← {joined} (msghub: every client joined the room, `batch` at a time;
 *                                        `quiet`: the room announces nobody, a join ends at its `ok`)
 *   → {cmd:'expect', total, latency}  ← {armed}; later ← {done, received} once `total` arrived
 *   → {cmd:'latencies', raw?}         ← {p50, p99, dueP50, dueP99, samples, values?, dueValues?} (ms, over
 *                                        every 10th client, from each broadcast's send time and from its
 *                                        due time; `raw`: every sample too, to merge several processes)
 *   → {cmd:'bytes'}                   ← {bytes} (read from the network by every client so far)
 *   → {cmd:'progress'}                ← {received}
 *   → {cmd:'stop'}                    exits
 * Args: system url clients [user prefix] (msghub users are `<prefix>u<index>`; distinct prefixes keep
 * several client processes of one room apart)
 */
import { MsghubClient, httpConnector } from '@msghub/client';
import { io as socketIo, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

const [system = 'ws', url = '', countArg = '100', prefix = ''] = process.argv.slice(2);
const clients = Number(countArg);
const now = (): number => performance.timeOrigin + performance.now();

let received = 0;
let expected = Number.POSITIVE_INFINITY;
let measuring = false;
/** Latencies of the sampled clients, from each broadcast's send time and from its due time. */
const latencies: number[] = [];
const dueLatencies: number[] = [];
const closers: (() => void)[] = [];
/** Each client's bytes read from its TCP socket (what crossed the wire, WebSocket framing included). */
const readers: (() => number)[] = [];
type RawSocket = { _socket?: { bytesRead: number } };

function arrived(sampled: boolean, data: unknown): void {
  received++;
  if (measuring && sampled) {
    const { sentAt, dueAt } = stampsOf(data);
    const at = now();
    if (sentAt > 0) latencies.push(at - sentAt);
    if (dueAt > 0) dueLatencies.push(at - dueAt);
  }
  if (received === expected) process.send?.({ done: true, received });
}

interface Stamps {
  sentAt?: number;
  dueAt?: number;
}

function stampsOf(data: unknown): { sentAt: number; dueAt: number } {
  const event = typeof data === 'string' || Buffer.isBuffer(data)
    ? (JSON.parse(String(data)) as { event?: { message?: Stamps } }).event
    : (data as { message?: Stamps });
  return { sentAt: event?.message?.sentAt ?? 0, dueAt: event?.message?.dueAt ?? 0 };
}

const sockets: WebSocket[] = [];

function openWs(index: number, hello: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // msghub-deflate: offer permessage-deflate, as ws and browsers do by default.
    const ws = new WebSocket(url, { perMessageDeflate: system === 'msghub-deflate' });
    const sampled = index % 10 === 0;
    ws.once('error', reject);
    ws.once('open', () => {
      closers.push(() => ws.terminate());
      readers.push(() => (ws as unknown as RawSocket)._socket?.bytesRead ?? Number.NaN);
      if (!hello) {
        ws.on('message', (data) => arrived(sampled, data));
        resolve();
        return;
      }
      sockets.push(ws);
      ws.send(JSON.stringify({ type: 'hello', v: 1, user: `${prefix}u${index}` }));
      ws.once('message', () => resolve());
    });
  });
}

/**
 * msghub: every client joins the room, `batch` at a time (each join is announced to every member,
 * so at thousands of clients the waves keep that burst bounded); counting starts after a client's
 * own join event, or (`quiet`: a room with `presenceEvents: 'none'`, where there is none) after the
 * `ok` that answers its join.
 */
async function joinAll(batch = sockets.length, quiet = false): Promise<void> {
  const step = Math.max(1, batch);
  for (let at = 0; at < sockets.length; at += step) await joinSome(at, Math.min(sockets.length, at + step), quiet);
}

function joinSome(from: number, to: number, quiet: boolean): Promise<void> {
  const indexes = Array.from({ length: to - from }, (_, offset) => from + offset);
  return Promise.all(
    indexes.map(
      (index) =>
        new Promise<void>((resolve) => {
          const ws = sockets[index] as WebSocket;
          const sampled = index % 10 === 0;
          let joined = false;
          const own = quiet ? `{"type":"ok","ref":${index},"room":"bench"` : `"type":"join","userId":"${prefix}u${index}"`;
          ws.on('message', (frame) => {
            if (joined) arrived(sampled, frame);
            else if (String(frame).includes(own)) {
              joined = true;
              resolve();
            }
          });
          ws.send(JSON.stringify({ type: 'join', room: 'bench', ...(quiet ? { ref: index } : {}) }));
        }),
    ),
  ).then(() => undefined);
}

const httpClients: MsghubClient[] = [];

/** msghub over the HTTP carrier (`msghub-http`): the client's own connector, past welcome. */
function openHttp(index: number): Promise<void> {
  const client = new MsghubClient({
    connector: httpConnector(url.replace(/^ws/, 'http')),
    user: `${prefix}u${index}`,
    reconnect: false,
    heartbeatTimeoutMs: 0,
  });
  httpClients.push(client);
  closers.push(() => void client.close());
  // fetch does not show its socket: the HTTP row has no wire-bytes figure ('—'), rather than 0.
  readers.push(() => Number.NaN);
  return new Promise<void>((resolve, reject) => {
    client.state$.subscribe((state) => {
      if (state === 'connected') resolve();
      else if (state === 'disconnected') reject(new Error('an HTTP client could not connect'));
    });
  });
}

/** msghub-http: every client joins the room; counting starts after its own join event. */
function joinAllHttp(): Promise<void> {
  return Promise.all(
    httpClients.map(
      (client, index) =>
        new Promise<void>((resolve) => {
          const sampled = index % 10 === 0;
          let joined = false;
          client.join('bench').subscribe((item) => {
            if (joined) arrived(sampled, item);
            else if (item.type === 'join' && item.userId === `${prefix}u${index}`) {
              joined = true;
              resolve();
            }
          });
        }),
    ),
  ).then(() => undefined);
}

function openSocketIo(index: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket: Socket = socketIo(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    const sampled = index % 10 === 0;
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      closers.push(() => socket.disconnect());
      // engine.io-client's websocket transport runs on ws in Node.
      const engine = socket.io.engine as unknown as { transport?: { ws?: RawSocket } };
      readers.push(() => engine.transport?.ws?._socket?.bytesRead ?? Number.NaN);
      socket.on('event', (event: unknown) => arrived(sampled, event));
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const batch = 50;
  for (let at = 0; at < clients; at += batch) {
    const opening: Promise<void>[] = [];
    for (let i = at; i < Math.min(clients, at + batch); i++) {
      opening.push(system === 'socketio' ? openSocketIo(i) : system === 'msghub-http' ? openHttp(i) : openWs(i, system.startsWith('msghub')));
    }
    await Promise.all(opening);
  }
  process.on('message', (raw: unknown) => {
    const message = raw as { cmd: string; total?: number; latency?: boolean; batch?: number; raw?: boolean; quiet?: boolean };
    if (message.cmd === 'join') {
      void (system === 'msghub-http' ? joinAllHttp() : joinAll(message.batch, message.quiet === true)).then(() => {
        // The joins of later clients reached the earlier ones: start counting from zero.
        received = 0;
        process.send?.({ joined: true });
      });
    } else if (message.cmd === 'expect') {
      received = 0;
      expected = message.total ?? 0;
      measuring = message.latency === true;
      latencies.length = 0;
      dueLatencies.length = 0;
      process.send?.({ armed: true });
    } else if (message.cmd === 'latencies') {
      const sorted = [...latencies].sort((a, b) => a - b);
      const due = [...dueLatencies].sort((a, b) => a - b);
      const at = (values: number[], q: number): number => values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))] ?? Number.NaN;
      process.send?.({
        p50: at(sorted, 0.5),
        p99: at(sorted, 0.99),
        dueP50: at(due, 0.5),
        dueP99: at(due, 0.99),
        samples: sorted.length,
        received,
        ...(message.raw === true ? { values: sorted, dueValues: due } : {}),
      });
    } else if (message.cmd === 'bytes') {
      process.send?.({ bytes: readers.reduce((sum, read) => sum + read(), 0) });
    } else if (message.cmd === 'progress') {
      process.send?.({ received });
    } else if (message.cmd === 'stop') {
      for (const close of closers) close();
      process.exit(0);
    }
  });
  process.send?.({ ready: true });
}

main().catch((error: unknown) => {
  console.error('clients failed:', error);
  process.exit(1);
});
