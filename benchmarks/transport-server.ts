/**
 * Server side of benchmarks/transport.bench.ts, one process per system so that RSS per connection
 * is measured on a fresh heap. Systems: `ws` (raw ws, one send per client), `socketio` (Socket.IO 4,
 * websocket transport), `msghub` (HubServer, one room, in-memory store) and `msghub-file` (the same
 * with a FileStore syncing every batch: commit, then deliver) and `msghub-deflate` (HubServer with
 * permessage-deflate on). Driven over IPC by the bench:
 *   → {cmd:'rss'}                       ← {rss, heapUsed}   (after two GCs)
 *   → {cmd:'cpu'}                       ← {cpu}  (process.cpuUsage(): µs, zlib's threads included)
 *   → {cmd:'blast', count}              ← {done}  (every broadcast handed to the server)
 *   → {cmd:'pace', count, rate}         ← {done}  (paced broadcasts, each stamped with its send and due time)
 *   → {cmd:'stop'}                      exits
 * Args: system [redis URL] [--presence-events=none]. With a Redis URL the server is one node of a
 * cluster on it (msghub: a RedisStore; Socket.IO: @socket.io/redis-streams-adapter), for
 * benchmarks/cluster-broadcast.bench.ts. `--presence-events=none`: msghub's room announces no
 * member entering or leaving (benchmarks/transport-scale.bench.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisStore } from '@msghub/cluster';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer, type WebSocket } from 'ws';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '@msghub/datalog';
import { HubServer } from '@msghub/transport';
import type { MessageHub } from '@msghub/messagehub';

/**
 * What each broadcast carries: `sentAt`, the time the server handed it on, and `dueAt`, the time the
 * pace asked for it (0 for both outside the paced run). A server that falls behind the pace sends
 * late: latency from `sentAt` leaves its backlog out, latency from `dueAt` counts it.
 */
type Broadcast = (payload: { seq: number; sentAt: number; dueAt: number; text: string }) => void | Promise<void>;

interface System {
  port: number;
  broadcast: Broadcast;
  stop(): Promise<void>;
}


/** Words of everyday chat: lines built from them are as compressible as people's messages, not as a run of one letter. */
const WORDS = (
  'the a to I you it and is that of in for on we this be have are not with but so at just do can what ' +
  'was if me my all get up out about know like no will one there they your now how think good time see ' +
  'today tomorrow meeting lunch call later thanks ok yes sure sounds great maybe anyone here back soon ' +
  'release build test deploy fixed broken review link doc chat room people coffee weekend morning'
).split(' ');

/** A chat line of 5 to 13 words, the same for the same `seq` in every system. */
function chatLine(seq: number): string {
  let state = (seq * 2654435761) >>> 0;
  const next = (): number => (state = (Math.imul(state ^ (state >>> 15), 2246822507) + 0x9e3779b9) >>> 0);
  const words: string[] = [];
  for (let n = 5 + (next() % 9); n > 0; n--) words.push(WORDS[next() % WORDS.length] as string);
  return words.join(' ');
}
const now = (): number => performance.timeOrigin + performance.now();

async function startWs(): Promise<System> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  let id = 0;
  return {
    port: (wss.address() as AddressInfo).port,
    broadcast(message) {
      // What a raw-ws user writes: the same frame shape msghub sends, stringified once, sent to each.
      const event = { id: ++id, chatroomId: 'bench', type: 'message', userId: 'bench', message, unixTime: Date.now() };
      const text = JSON.stringify({ type: 'event', room: 'bench', event });
      for (const client of wss.clients as Set<WebSocket>) client.send(text);
    },
    stop: () => new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
  };
}

const redisUrl = process.argv.slice(3).find((arg) => !arg.startsWith('--'));
const quietRoom = process.argv.includes('--presence-events=none');

async function startSocketIo(): Promise<System> {
  const http = createServer();
  const io = new SocketIoServer(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    ...(redisUrl === undefined ? {} : { adapter: createAdapter(new Redis(redisUrl)) }),
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let id = 0;
  return {
    port: (http.address() as AddressInfo).port,
    broadcast(message) {
      io.emit('event', { id: ++id, chatroomId: 'bench', type: 'message', userId: 'bench', message, unixTime: Date.now() });
    },
    stop: () => new Promise<void>((resolve) => {
      io.disconnectSockets(true);
      void io.close(() => resolve());
    }),
  };
}

/**
 * msghub with its default in-memory store, with a FileStore that syncs every batch (`durable`), or,
 * given a Redis URL, as one node of a cluster on a RedisStore.
 */
async function startMsghub(durable = false, deflate = false): Promise<System> {
  const dir = durable && redisUrl === undefined ? mkdtempSync(join(tmpdir(), 'msghub-bench-')) : undefined;
  const store =
    redisUrl !== undefined
      ? new RedisStore({ redis: redisUrl, retain: 10_000 })
      : dir === undefined
        ? undefined
        : new FileStore({ file: join(dir, 'events.log'), fsync: 'batch' });
  const server = new HubServer({
    trustClientUser: true,
    heartbeatMs: 0,
    rateLimit: false,
    roomIdleTimeoutMs: 0,
    ...(store === undefined ? {} : { store }),
    ...(deflate ? { perMessageDeflate: true } : {}),
  });
  const { ws } = await server.listen({ ws: {} });
  const hub = server.rooms.create('bench', quietRoom ? { presenceEvents: 'none' } : {}) as MessageHub<unknown>;
  return {
    port: ws?.port ?? 0,
    broadcast: (message) => hub.message('bench', message),
    stop: async () => {
      await server.close();
      await store?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
}

/**
 * Touches every page of V8's young generation before the baseline is taken, so that RSS per
 * connection counts what connections retain, not the one-off first use of the young generation
 * (up to ~16 MiB, which any allocation burst touches once and which 1000 connections would
 * otherwise be charged for).
 */
function warmYoungGeneration(): void {
  let keep: unknown[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    keep.push({ i, text: `warm-${i}` });
    if (keep.length === 1000) keep = [];
  }
}

async function main(): Promise<void> {
  const name = process.argv[2];
  const system =
    name === 'ws' ? await startWs() : name === 'socketio' ? await startSocketIo() : await startMsghub(name === 'msghub-file', name === 'msghub-deflate');
  process.on('message', (raw: unknown) => void handle(system, raw as { cmd: string; count?: number; rate?: number }));
  warmYoungGeneration();
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  process.send?.({ port: system.port, rss, heapUsed });
}

async function handle(system: System, message: { cmd: string; count?: number; rate?: number }): Promise<void> {
  const count = message.count ?? 0;
  if (message.cmd === 'rss') {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 200));
    gc();
    const { rss, heapUsed } = process.memoryUsage();
    process.send?.({ rss, heapUsed });
  } else if (message.cmd === 'cpu') {
    process.send?.({ cpu: process.cpuUsage() });
  } else if (message.cmd === 'blast') {
    for (let seq = 0; seq < count; seq++) await system.broadcast({ seq, sentAt: 0, dueAt: 0, text: chatLine(seq) });
    process.send?.({ done: true });
  } else if (message.cmd === 'pace') {
    const interval = 1000 / (message.rate ?? 100);
    const start = now();
    for (let seq = 0; seq < count; seq++) {
      const due = start + seq * interval;
      const wait = due - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await system.broadcast({ seq, sentAt: now(), dueAt: due, text: chatLine(seq) });
    }
    process.send?.({ done: true });
  } else if (message.cmd === 'stop') {
    await system.stop();
    process.exit(0);
  }
}

void main();
