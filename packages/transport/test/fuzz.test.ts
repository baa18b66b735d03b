import { expect } from 'chai';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { WIRE_ERROR_CODES, type WireError } from '../src/index.js';
import { cleanup, delay, startServer, type Carrier, type Running, type TestClient } from './helpers.js';

/** A small seeded PRNG (mulberry32) so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const valid: object[] = [
  { type: 'join', ref: 1, room: 'fuzz' },
  { type: 'leave', ref: 2, room: 'fuzz' },
  { type: 'publish', ref: 3, room: 'fuzz', data: { text: 'hi', n: [1, 2] } },
  { type: 'direct', ref: 4, to: 'someone', data: 'x' },
  { type: 'direct', ref: 5, to: 'someone', room: 'fuzz', data: 'x' },
  { type: 'direct', ref: 9, to: 'someone', data: 'x', ttlMs: 60_000 },
  { type: 'ack', ref: 10, direct: ['Jm3eXo1vT0q6a9LbZx4W2g', 'x'] },
  { type: 'request', ref: 6, op: 'presence', data: { room: 'fuzz' } },
  { type: 'request', ref: 7, op: 'online', data: null },
  { type: 'request', ref: 13, op: 'ask-me' },
  { type: 'request', ref: 9, op: 'history', data: { room: 'fuzz', before: 5, limit: 3 } },
  { type: 'signal', ref: 10, room: 'fuzz', data: { typing: true } },
  { type: 'request', ref: 11, op: 'count', data: { n: 3 }, stream: true },
  { type: 'request', ref: 12, op: 'presence', data: { room: 'fuzz' }, stream: true },
  { type: 'cancel', ref: 11 },
  { type: 'notify', op: 'cursor', data: { x: 1 } },
  { type: 'notify', op: 'nothing' },
  { type: 'response', ref: 1, data: { answer: 42 } },
  { type: 'error', ref: 2, code: 'UNKNOWN_OP', message: 'no handler' },
  { type: 'join', ref: 8, room: 'fuzz', since: 3 },
  { type: 'ping', ts: 1 },
  { type: 'pong', ts: 1 },
  { type: 'hello', v: 1, user: 'x' },
];

const tooDeep: unknown = JSON.parse('['.repeat(70) + ']'.repeat(70));
const oddValues: unknown[] = [null, true, -1, 1.5, 2 ** 60, '', 'x'.repeat(300), [], {}, [[[[]]]], tooDeep, { type: 'join' }, '\u0000\ud800', NaN];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/** One fuzzed frame body: random text, or a valid frame with a field replaced, removed or the text cut. */
function fuzzFrame(rand: () => number): string {
  const mode = Math.floor(rand() * 6);
  if (mode === 0) {
    const length = Math.floor(rand() * 64);
    let text = '';
    for (let i = 0; i < length; i++) text += String.fromCharCode(Math.floor(rand() * 0x2fff));
    return text;
  }
  const frame = { ...(pick(rand, valid) as Record<string, unknown>) };
  const keys = [...Object.keys(frame), 'type', 'ref', 'room', 'data', 'v', 'ttlMs', 'direct', 'op', 'stream', 'code', 'message', 'more', 'extra'];
  if (mode === 1) frame[pick(rand, keys)] = pick(rand, oddValues);
  if (mode === 2) delete frame[pick(rand, keys)];
  if (mode === 3) frame['type'] = pick(rand, ['hello', 'join', 'ack', 'bogus', 'event', 'ok', 'constructor', '__proto__', 'request', 'cancel', 'notify', 'response', 'error', 'end']);
  let text = JSON.stringify(frame);
  if (mode === 4) text = text.slice(0, Math.floor(rand() * text.length));
  if (mode === 5) {
    const at = Math.floor(rand() * text.length);
    text = text.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + text.slice(at + 1);
  }
  // A well-formed bye would end the session; the fuzzer wants to keep talking.
  return /"type":"bye"/.test(text) ? '{}' : text;
}

async function fuzzConnection(
  running: Running,
  carrier: Carrier,
  seed: number,
  count: number,
  hello: Record<string, unknown> = { user: `fuzz-${carrier}` },
): Promise<TestClient> {
  const rand = random(seed);
  const client = carrier === 'ws' ? await running.ws() : carrier === 'tcp' ? await running.tcp() : await running.http();
  // Before authentication: everything but hello must be refused, not crash anything.
  for (let i = 0; i < count / 10; i++) {
    const text = fuzzFrame(rand);
    if (!text.includes('"hello"')) client.send(text);
  }
  if (carrier === 'http') {
    // Its answers to the 600 frames before it come first, through the stream, POST by POST.
    client.send({ type: 'hello', v: 1, ...hello });
    await client.next('welcome', 10_000);
  } else {
    await client.hello(hello);
  }
  for (let i = 0; i < count; i++) {
    client.send(fuzzFrame(rand));
    if (i % 500 === 499) {
      client.send({ type: 'ping', ts: -i });
      await client.waitFor((f) => f.type === 'pong' && f['ts'] === -i, 10_000);
    }
  }
  client.send({ type: 'ping', ts: -1 });
  await client.waitFor((f) => f.type === 'pong' && f['ts'] === -1, 10_000);
  return client;
}

async function servedNormally(running: Running, carrier: Carrier): Promise<void> {
  const client = await running.user(`normal-${carrier}`, carrier);
  client.send({ type: 'join', ref: 'j', room: 'after-fuzz' });
  await client.next('ok');
  client.send({ type: 'publish', ref: 'p', room: 'after-fuzz', data: 'still served' });
  await client.waitFor((f) => f.type === 'event' && (f['event'] as { message?: unknown }).message === 'still served');
}

describe('fuzz', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('survives 18k random and mutated frames over WebSocket, TCP and HTTP, then serves a normal client', async () => {
    const errors: unknown[] = [];
    // A short history keeps the replay of each fuzzed `join` with `since` small.
    const running = await startServer({ rateLimit: false, maxFrameBytes: 4096, hubOptions: { historySize: 8 }, onError: (e) => errors.push(e) });
    // A stream and a notification handler, so fuzzed stream requests, cancels and notifies reach them.
    let streams = 0;
    let finalized = 0;
    running.server.handle('count', (input) => {
      streams++;
      const n = typeof (input as { n?: unknown } | null)?.n === 'number' ? Math.min((input as { n: number }).n, 5) : 2;
      // Ended once: run to its end, or abandoned through return() (which a generator that never
      // started would not show in a finally block).
      let i = 0;
      let ended = false;
      const end = (): void => {
        if (!ended) finalized++;
        ended = true;
      };
      return {
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            if (i < n && !ended) return { done: false, value: i++ };
            end();
            return { done: true, value: undefined };
          },
          return: async () => {
            end();
            return { done: true, value: undefined };
          },
        }),
      };
    });
    running.server.onNotify('cursor', () => {});
    // Server requests the fuzzed clients may answer, or not: each ends by answer, timeout or close.
    const asked: Promise<unknown>[] = [];
    running.server.handle('ask-me', (_input, { connection }) => {
      asked.push(connection.request('anything', null, { timeoutMs: 200 }).catch((error: unknown) => error));
      return true;
    });
    const clients = await Promise.all([fuzzConnection(running, 'ws', 1, 6000), fuzzConnection(running, 'tcp', 2, 6000), fuzzConnection(running, 'http', 4, 6000)]);
    for (const client of clients) expect(client.isClosed).to.equal(false);
    const [ws, tcp] = clients as [TestClient, TestClient, TestClient];
    const frames = clients.flatMap((client) => client.frames);
    const codes = new Set(frames.filter((f) => f.type === 'error').map((f) => f['code']));
    expect([...codes]).to.include.members(['BAD_FRAME', 'UNKNOWN_TYPE', 'INVALID_FIELD', 'NOT_AUTHENTICATED']);
    const [, , http] = clients;
    expect(new Set(http?.frames.filter((f) => f.type === 'error').map((f) => f['code']))).to.include.keys('BAD_FRAME', 'UNKNOWN_TYPE', 'INVALID_FIELD', 'NOT_AUTHENTICATED');
    expect(codes.has('INTERNAL'), JSON.stringify(frames.find((f) => f['code'] === 'INTERNAL'))).to.equal(false);
    expect(errors).to.deep.equal([]);
    expect(streams).to.be.above(0);
    await servedNormally(running, 'ws');
    await servedNormally(running, 'tcp');
    await servedNormally(running, 'http');
    ws.close();
    tcp.close();
    await Promise.all([ws.closed, tcp.closed]);
    // Every stream a fuzzed request started has ended and been finalized, connection gone or not.
    await delay(50);
    expect(finalized).to.equal(streams);
    // Each server request ended: answered (a fuzzed response or error may carry its ref), timed out, or failed with the connection.
    expect(asked.length).to.be.above(0);
    for (const outcome of await Promise.all(asked)) {
      if (outcome instanceof Error) expect(WIRE_ERROR_CODES).to.include((outcome as WireError).code);
    }
  });

  it('keeps room-bound connections of one user in a unique room inside their binding under fuzzed frames, and fuzzed dev token bodies', async () => {
    const errors: unknown[] = [];
    const running = await startServer({
      trustClientUser: false,
      devTokens: true,
      uniqueUsers: true,
      rateLimit: false,
      maxFrameBytes: 4096,
      hubOptions: { historySize: 8 },
      onError: (e) => errors.push(e),
    });
    const { server } = running;
    const bound = (): { token: string } => ({ token: server.tokens.issue('fuzz', { rooms: ['fuzz', 'f*'] }) });
    const [ws, tcp] = await Promise.all([fuzzConnection(running, 'ws', 4, 3000, bound()), fuzzConnection(running, 'tcp', 5, 3000, bound())]);
    expect(ws.isClosed).to.equal(false);
    expect(tcp.isClosed).to.equal(false);
    const frames = [...ws.frames, ...tcp.frames];
    const codes = new Set(frames.filter((f) => f.type === 'error').map((f) => f['code']));
    expect([...codes]).to.include.members(['FORBIDDEN', 'USER_IN_ROOM', 'INVALID_FIELD']);
    expect(frames.some((f) => f['code'] === 'INTERNAL'), JSON.stringify(frames.find((f) => f['code'] === 'INTERNAL'))).to.equal(false);
    expect(errors).to.deep.equal([]);
    for (const { rooms } of server.connections()) for (const room of rooms) expect(room === 'fuzz' || room.startsWith('f')).to.equal(true);
    // One session of the user per room, whatever the two connections did.
    for (const name of server.rooms.names()) {
      const members = await server.rooms.get(name)!.presence();
      for (const member of members) expect(member.sessions, `${name}: ${member.userId}`).to.equal(1);
    }

    const rand = random(6);
    const url = running.wsUrl.replace('ws:', 'http:') + 'dev/token';
    for (let i = 0; i < 200; i++) {
      const body = JSON.stringify({ user: pick(rand, ['ada', ...oddValues]), rooms: pick(rand, [['a', 'b*'], ...oddValues, [null], ['x'.repeat(257)]]) });
      const cut = rand() < 0.2 ? body.slice(0, Math.floor(rand() * body.length)) : body;
      const response = await fetch(url, { method: 'POST', body: cut });
      expect([200, 400], cut).to.include(response.status);
      await response.arrayBuffer();
    }
    expect(errors).to.deep.equal([]);
    const normal = await running.ws();
    await normal.hello(bound());
    normal.send({ type: 'join', ref: 'j', room: 'after-fuzz' });
    expect(await normal.next('error')).to.include({ code: 'FORBIDDEN' });
  });

  it('survives raw garbage bytes: binary WebSocket messages, broken TCP prefixes, abrupt resets', async () => {
    const running = await startServer({ rateLimit: false });
    const rand = random(3);
    const garbage = (): Buffer => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
    for (let round = 0; round < 20; round++) {
      const ws = new WebSocket(running.wsUrl);
      ws.on('error', () => {});
      await new Promise<void>((resolve) => ws.once('open', () => resolve()));
      for (let i = 0; i < 20; i++) ws.send(garbage(), { binary: rand() < 0.5 });
      ws.terminate();
      const socket = connect(running.tcpPort, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(garbage());
      socket.destroy();
    }
    await delay(20);
    await servedNormally(running, 'ws');
    await servedNormally(running, 'tcp');
  });

  it('survives garbage HTTP carrier requests: random paths, ids, seen values, methods and bytes, with a typed answer to each', async () => {
    const errors: unknown[] = [];
    const running = await startServer({ rateLimit: false, onError: (e) => errors.push(e) });
    const rand = random(5);
    const garbage = (): Buffer => Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
    const client = await running.http();
    await client.hello({ user: 'target' });
    const live = running.server.connections()[0]?.id ?? '';
    const statuses = new Set<number>();
    const codes = new Set<unknown>();
    for (let i = 0; i < 150; i++) {
      const sid = pick(rand, ['', 'x', live, 'A'.repeat(22), '%ff%fe', '..', encodeURIComponent(garbage().toString('latin1'))]);
      const seen = pick(rand, ['', '0', '-1', 'NaN', '1e9', '99999999999999999999', String(Math.floor(rand() * 10))]);
      const method = pick(rand, ['GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH']);
      const path = pick(rand, [`/_http/${sid}`, `/_http/${sid}/extra`, '/_http', `/x/_http/${sid}`]);
      const body = method === 'GET' ? undefined : garbage();
      const abort = new AbortController();
      const response = await fetch(`${running.httpUrl}${path}?seen=${seen}`, { method, ...(body === undefined ? {} : { body }), signal: abort.signal });
      statuses.add(response.status);
      if (response.headers.get('content-type')?.startsWith('application/json') === true) codes.add(((await response.json()) as { code?: unknown }).code);
      abort.abort();
    }
    expect([...statuses].every((status) => [200, 204, 400, 404, 405, 410].includes(status)), [...statuses].join()).to.equal(true);
    expect([...codes]).to.include.members(['UNKNOWN_CONNECTION', 'METHOD_NOT_ALLOWED']);
    // The binding id is not the connection id: the live connection was never reached.
    client.send({ type: 'ping', ts: 7 });
    expect(await client.waitFor((f) => f.type === 'pong' && f['ts'] === 7)).to.include({ ts: 7 });
    expect(client.isClosed).to.equal(false);
    expect(errors).to.deep.equal([]);
    await servedNormally(running, 'http');
  });
});
