import { expect } from 'chai';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { HubServer, type HubServerOptions } from '../src/index.js';
import { parseExposition, valueOf } from './exposition.js';
import { TestClient, cleanup, delay, readSse, startServer, type Running } from './helpers.js';

// The HTTP carrier on a real server on port 0, spoken to with raw fetch requests: the endpoints,
// their refusals, the re-opened stream, and the limits every carrier shares.

interface Sse {
  event: string;
  id: number | undefined;
  data: string;
}

/** A raw HTTP carrier stream: every SSE event read so far, and the binding id. */
class RawStream {
  readonly events: Sse[] = [];
  readonly done: Promise<void>;
  readonly abort = new AbortController();
  status = 0;
  #wake: (() => void) | undefined;

  constructor(url: string) {
    this.done = this.#read(url);
  }

  /** The frames (parsed `data` of numbered events) read so far. */
  get frames(): Record<string, unknown>[] {
    return this.events.filter((e) => e.id !== undefined).map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }

  get lastId(): number {
    return this.events.reduce((last, e) => e.id ?? last, 0);
  }

  async #read(url: string): Promise<void> {
    try {
      const response = await fetch(url, { signal: this.abort.signal });
      this.status = response.status;
      if (response.body === null || response.status !== 200) return;
      await readSse(response.body, (fields) => {
        const id = fields.get('id');
        this.events.push({ event: fields.get('event') ?? 'message', id: id === undefined ? undefined : Number(id), data: fields.get('data') ?? '' });
        this.#wake?.();
        return true;
      });
    } catch {
      // Aborted.
    } finally {
      this.#wake?.();
    }
  }

  async until(match: (events: Sse[]) => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!match(this.events)) {
      if (Date.now() > deadline) throw new Error(`Timed out; read ${JSON.stringify(this.events.slice(-4))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async sid(): Promise<string> {
    await this.until((events) => events.some((e) => e.event === 'open'));
    return (JSON.parse((this.events.find((e) => e.event === 'open') as Sse).data) as { sid: string }).sid;
  }
}

const streams: RawStream[] = [];

function open(base: string, query = ''): RawStream {
  const stream = new RawStream(`${base}/_http${query}`);
  streams.push(stream);
  return stream;
}

function reopen(base: string, sid: string, seen: number): RawStream {
  const stream = new RawStream(`${base}/_http/${sid}?seen=${seen}`);
  streams.push(stream);
  return stream;
}

function post(base: string, sid: string, frames: readonly (object | string)[], seen = 0): Promise<Response> {
  const body = frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join('\n');
  return fetch(`${base}/_http/${sid}?seen=${seen}`, { method: 'POST', body });
}

async function refusal(response: Response): Promise<{ status: number; code: unknown }> {
  const body = (await response.json()) as { code?: unknown; message?: unknown };
  expect(body.message).to.be.a('string');
  return { status: response.status, code: body.code };
}

/** A stream past `welcome` as `user`. */
async function member(base: string, user: string): Promise<{ stream: RawStream; sid: string }> {
  const stream = open(base);
  const sid = await stream.sid();
  expect((await post(base, sid, [{ type: 'hello', v: 1, user }])).status).to.equal(204);
  await stream.until(() => stream.frames.some((f) => f['type'] === 'welcome'));
  return { stream, sid };
}

/** Ada over the HTTP carrier and Bob over WebSocket, both in room `r`. */
async function pairInRoom(running: Running): Promise<{ stream: RawStream; sid: string; bob: TestClient }> {
  const { stream, sid } = await member(running.httpUrl, 'ada');
  const bob = await running.user('bob');
  await post(running.httpUrl, sid, [{ type: 'join', ref: 'j', room: 'r' }]);
  bob.send({ type: 'join', ref: 'j', room: 'r' });
  await bob.next('ok');
  return { stream, sid, bob };
}

function messagesOf(frames: readonly Record<string, unknown>[]): unknown[] {
  return frames.filter((f) => f['type'] === 'event' && (f['event'] as { type: string }).type === 'message').map((f) => (f['event'] as { message: unknown }).message);
}

/** Closes servers a test made itself, after the streams it opened. */
async function closeServers(...servers: HubServer[]): Promise<void> {
  for (const stream of streams.splice(0)) stream.abort.abort();
  await Promise.all(servers.map((server) => server.close()));
}

async function serve(options: HubServerOptions = {}): Promise<Running> {
  return startServer(options);
}

describe('HTTP carrier', () => {
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.abort.abort();
    await cleanup();
  });

  describe('GET /_http', () => {
    it('opens a connection: an SSE stream that names a random binding id, then numbered frames from 1', async () => {
      const running = await serve();
      const response = await fetch(`${running.httpUrl}/_http`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.equal('text/event-stream; charset=utf-8');
      expect(response.headers.get('cache-control')).to.equal('no-store');
      await response.body?.cancel();

      const { stream, sid } = await member(running.httpUrl, 'ada');
      expect(sid).to.match(/^[A-Za-z0-9_-]{22}$/);
      const welcome = stream.events.find((e) => e.id !== undefined) as Sse;
      expect(welcome.id).to.equal(1);
      const summary = running.server.connections();
      expect(summary).to.have.length(1);
      expect(summary[0]).to.include({ userId: 'ada', carrier: 'http' });
      // The binding id is not the connection id other members see as its session id.
      expect(summary[0]?.id).to.not.equal(sid);
      expect(JSON.parse(welcome.data)).to.include({ type: 'welcome', userId: 'ada', connectionId: summary[0]?.id });
    });

    it('authenticates from the query of the opening request, as a WebSocket upgrade does', async () => {
      const running = await serve({ trustClientUser: false });
      const token = running.server.tokens.issue('grace');
      const stream = open(running.httpUrl, `?token=${token}`);
      const sid = await stream.sid();
      await post(running.httpUrl, sid, [{ type: 'hello', v: 1 }]);
      await stream.until(() => stream.frames.some((f) => f['type'] === 'welcome'));
      expect(stream.frames[0]).to.include({ type: 'welcome', userId: 'grace' });

      const refused = open(running.httpUrl, '?token=wrong');
      const other = await refused.sid();
      await post(running.httpUrl, other, [{ type: 'hello', v: 1 }]);
      await refused.done;
      expect(refused.frames.map((f) => [f['type'], f['code']])).to.deep.equal([['error', 'AUTH_FAILED'], ['bye', 'AUTH_FAILED']]);
      expect(refused.events.at(-1)?.event).to.equal('end');
    });

    it('answers 503 SHUTDOWN while the server shuts down, closing the socket, and close() completes with a stream open', async () => {
      const server = new HubServer({ trustClientUser: true });
      const { ws } = await server.listen({ ws: { port: 0 } });
      const base = `http://127.0.0.1:${ws?.port}`;
      const { stream } = await member(base, 'ada');
      // A request still arriving when the shutdown starts (its headers not complete yet).
      const socket = connect(ws?.port ?? 0, '127.0.0.1');
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /_http HTTP/1.1\r\nhost: 127.0.0.1\r\n');
      await delay(50);
      const closed = server.close().then(() => 'closed');
      socket.write('\r\n');
      const outcome = await Promise.race([closed, delay(5000).then(() => 'still open')]);
      expect(outcome).to.equal('closed');
      await socketClosed;
      expect(answer).to.match(/^HTTP\/1\.1 503 /);
      expect(answer.toLowerCase()).to.include('connection: close');
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).to.include({ code: 'SHUTDOWN' });
      await stream.done;
      expect(stream.frames.at(-1)).to.include({ type: 'bye', code: 'SHUTDOWN' });
      expect(stream.events.at(-1)?.event).to.equal('end');
    });

    it('answers another method with 405 METHOD_NOT_ALLOWED and opens nothing', async () => {
      const running = await serve();
      const response = await fetch(`${running.httpUrl}/_http`, { method: 'PUT', body: 'x' });
      expect(await refusal(response)).to.deep.equal({ status: 405, code: 'METHOD_NOT_ALLOWED' });
      expect(response.headers.get('allow')).to.equal('GET');
      expect(running.server.metrics().connections).to.equal(0);
    });
  });

  describe('POST /_http/:sid', () => {
    it('takes several frames per POST, one per line, in order', async () => {
      const running = await serve();
      const { stream, sid } = await member(running.httpUrl, 'ada');
      const frames = [{ type: 'join', ref: 1, room: 'r' }, ...[1, 2, 3].map((n) => ({ type: 'publish', ref: n + 1, room: 'r', data: n }))];
      expect((await post(running.httpUrl, sid, frames)).status).to.equal(204);
      expect((await post(running.httpUrl, sid, ['', '{"type":"publish","ref":9,"room":"r","data":4}\r', ''])).status).to.equal(204);
      await stream.until(() => messagesOf(stream.frames).length === 4);
      expect(messagesOf(stream.frames)).to.deep.equal([1, 2, 3, 4]);
    });

    it('answers an unknown or guessed id with 404 UNKNOWN_CONNECTION, for POST and GET alike', async () => {
      const running = await serve();
      const { sid } = await member(running.httpUrl, 'ada');
      const guessed = sid.slice(0, -1) + (sid.endsWith('A') ? 'B' : 'A');
      for (const id of [guessed, 'x', '', '%00', '../_http']) {
        const path = `${running.httpUrl}/_http/${encodeURIComponent(id)}`;
        for (const method of ['POST', 'GET'] as const) {
          const response = await fetch(`${path}?seen=0`, method === 'POST' ? { method, body: '{"type":"ping"}' } : { method });
          const expected = id === '' ? (method === 'POST' ? 404 : 200) : 404;
          if (expected === 200) {
            // `/_http/` with an empty id is the opening request's path with a slash: not a binding.
            expect(response.status).to.not.equal(500);
            await response.body?.cancel();
            continue;
          }
          expect(await refusal(response), `${method} ${id}`).to.deep.equal({ status: 404, code: 'UNKNOWN_CONNECTION' });
        }
      }
    });

    it('answers a POST after the connection ended with 410 CONNECTION_CLOSED, and 404 once the grace window passed', async () => {
      const server = new HubServer({ trustClientUser: true });
      const { ws } = await server.listen({ ws: { port: 0, http: { graceMs: 200 } } });
      const base = `http://127.0.0.1:${ws?.port}`;
      try {
        const { stream, sid } = await member(base, 'ada');
        await post(base, sid, [{ type: 'bye' }]);
        await stream.done;
        expect(stream.frames.at(-1)).to.include({ type: 'bye', code: 'CLOSED' });
        expect(await refusal(await post(base, sid, [{ type: 'ping' }]))).to.deep.equal({ status: 410, code: 'CONNECTION_CLOSED' });
        await delay(300);
        expect(await refusal(await post(base, sid, [{ type: 'ping' }]))).to.deep.equal({ status: 404, code: 'UNKNOWN_CONNECTION' });
      } finally {
        await closeServers(server);
      }
    });

    it('answers a malformed or out-of-range seen with 400 INVALID_FIELD and keeps the connection', async () => {
      const running = await serve();
      const { stream, sid } = await member(running.httpUrl, 'ada');
      for (const seen of ['abc', '-1', '1.5', '99', '1e3', '9'.repeat(20)]) {
        const response = await fetch(`${running.httpUrl}/_http/${sid}?seen=${seen}`, { method: 'POST', body: '{"type":"ping","ts":1}' });
        expect(await refusal(response), seen).to.deep.equal({ status: 400, code: 'INVALID_FIELD' });
        const again = await fetch(`${running.httpUrl}/_http/${sid}?seen=${seen}`);
        expect(await refusal(again), `GET ${seen}`).to.deep.equal({ status: 400, code: 'INVALID_FIELD' });
      }
      await post(running.httpUrl, sid, [{ type: 'ping', ts: 2 }], 1);
      await stream.until(() => stream.frames.some((f) => f['type'] === 'pong' && f['ts'] === 2));
      // Refused requests acted on nothing: the first ping (ts 1) never arrived.
      expect(stream.frames.filter((f) => f['type'] === 'pong').map((f) => f['ts'])).to.deep.equal([2]);
    });

    it('answers another method with 405 METHOD_NOT_ALLOWED', async () => {
      const running = await serve();
      const { sid } = await member(running.httpUrl, 'ada');
      const response = await fetch(`${running.httpUrl}/_http/${sid}`, { method: 'DELETE' });
      expect(await refusal(response)).to.deep.equal({ status: 405, code: 'METHOD_NOT_ALLOWED' });
      expect(response.headers.get('allow')).to.equal('GET, POST');
    });

    it('answers a body over the limit with 413 FRAME_TOO_LARGE, a frame over maxFrameBytes with an error frame, and the connection goes on', async () => {
      const running = await serve({ maxFrameBytes: 1024 });
      const { stream, sid } = await member(running.httpUrl, 'ada');
      const huge = await fetch(`${running.httpUrl}/_http/${sid}?seen=0`, { method: 'POST', body: 'x'.repeat(4 * 1024 * 1024 + 1) });
      expect(await refusal(huge)).to.deep.equal({ status: 413, code: 'FRAME_TOO_LARGE' });
      const long = JSON.stringify({ type: 'publish', ref: 1, room: 'r', data: 'y'.repeat(2000) });
      expect((await post(running.httpUrl, sid, [long, { type: 'ping', ts: 3 }])).status).to.equal(204);
      await stream.until(() => stream.frames.some((f) => f['type'] === 'pong'));
      expect(stream.frames.slice(1).map((f) => [f['type'], f['code']])).to.deep.equal([['error', 'FRAME_TOO_LARGE'], ['pong', undefined]]);
    });

    it('drops frames past the rate limit, answering each one with a ref with RATE_LIMITED', async () => {
      const running = await serve({ rateLimit: { frames: 5, intervalMs: 60_000 } });
      const { stream, sid } = await member(running.httpUrl, 'ada');
      await post(running.httpUrl, sid, [{ type: 'join', ref: 0, room: 'r' }]);
      const publishes = Array.from({ length: 10 }, (_, i) => ({ type: 'publish', ref: i + 1, room: 'r', data: i + 1 }));
      await post(running.httpUrl, sid, publishes);
      await stream.until(() => stream.frames.filter((f) => f['ref'] !== undefined && f['ref'] !== 0).length === 10);
      const answers = stream.frames.filter((f) => f['ref'] !== undefined && f['ref'] !== 0);
      // hello and join took 2 of the 5 frames of the window.
      expect(answers.filter((f) => f['type'] === 'ok').map((f) => f['ref'])).to.deep.equal([1, 2, 3]);
      expect(answers.filter((f) => f['type'] === 'error').map((f) => [f['ref'], f['code']])).to.deep.equal([4, 5, 6, 7, 8, 9, 10].map((ref) => [ref, 'RATE_LIMITED']));
    });
  });

  describe('a stream that drops', () => {
    it('is opened again with the last frame read: every frame after it once, in order, none lost while it was down', async () => {
      const running = await serve();
      const { stream, sid, bob } = await pairInRoom(running);
      for (let i = 1; i <= 10; i++) bob.send({ type: 'publish', room: 'r', data: i });
      await stream.until(() => messagesOf(stream.frames).length === 10);
      stream.abort.abort();
      await stream.done;
      // Read but never acknowledged: a client may say it saw less, and gets those again.
      const seen = stream.lastId - 3;
      for (let i = 11; i <= 30; i++) bob.send({ type: 'publish', room: 'r', data: i });
      await bob.waitFor((f) => f.type === 'event' && (f['event'] as { message?: unknown }).message === 30);
      const again = reopen(running.httpUrl, sid, seen);
      await again.until(() => messagesOf(again.frames).includes(30));
      expect(again.events[0]?.id).to.equal(seen + 1);
      const ids = again.events.map((e) => e.id);
      expect(ids).to.deep.equal(ids.map((_, i) => seen + 1 + i));
      const combined = [...stream.frames.slice(0, seen), ...again.frames];
      expect(messagesOf(combined)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(running.server.connections().find((c) => c.userId === 'ada')?.carrier).to.equal('http');
    });

    it('refuses to re-open before what was acknowledged, or past the last frame, with 400 INVALID_FIELD', async () => {
      const running = await serve();
      const { stream, sid } = await member(running.httpUrl, 'ada');
      await post(running.httpUrl, sid, [{ type: 'ping', ts: 1 }], 1);
      await stream.until(() => stream.frames.length === 2);
      await post(running.httpUrl, sid, [], 2);
      expect(await refusal(await fetch(`${running.httpUrl}/_http/${sid}?seen=1`))).to.deep.equal({ status: 400, code: 'INVALID_FIELD' });
      expect(await refusal(await fetch(`${running.httpUrl}/_http/${sid}?seen=3`))).to.deep.equal({ status: 400, code: 'INVALID_FIELD' });
    });

    it('ends the connection when no stream comes back within graceMs: the room sees it leave', async () => {
      const disconnects: string[] = [];
      const watched = new HubServer({ trustClientUser: true, onDisconnect: (c, code) => disconnects.push(`${c.transport} ${code}`) });
      const { ws } = await watched.listen({ ws: { port: 0, http: { graceMs: 150 } } });
      const base = `http://127.0.0.1:${ws?.port}`;
      try {
        const { stream, sid } = await member(base, 'ada');
        await post(base, sid, [{ type: 'join', ref: 1, room: 'r' }]);
        await stream.until(() => stream.frames.some((f) => f['type'] === 'ok'));
        stream.abort.abort();
        await delay(50);
        expect(watched.isOnline('ada')).to.equal(true);
        const deadline = Date.now() + 2000;
        while (watched.isOnline('ada') && Date.now() < deadline) await delay(20);
        expect(watched.isOnline('ada')).to.equal(false);
        expect(disconnects).to.deep.equal(['http CLOSED']);
        expect(await watched.rooms.get('r')?.presence()).to.deep.equal([]);
        expect(await refusal(await fetch(`${base}/_http/${sid}?seen=0`))).to.deep.equal({ status: 404, code: 'UNKNOWN_CONNECTION' });
      } finally {
        await closeServers(watched);
      }
    });

    it('gives the last frames (the bye) to a stream re-opened just after the connection ended', async () => {
      const running = await serve();
      const { stream, sid } = await member(running.httpUrl, 'ada');
      stream.abort.abort();
      await stream.done;
      running.server.kick('ada', 'go away');
      const again = reopen(running.httpUrl, sid, 1);
      await again.done;
      expect(again.frames.map((f) => [f['type'], f['code']])).to.deep.equal([['kicked', 'KICKED'], ['bye', 'KICKED']]);
      expect(again.events.at(-1)?.event).to.equal('end');
    });
  });

  describe('limits shared with the other carriers', () => {
    it('closes a client that reads but never acknowledges with SLOW_CONSUMER once its frames pass the outgoing bound', async () => {
      const running = await serve({ maxQueuedFrames: 40 });
      const { stream, sid, bob } = await pairInRoom(running);
      for (let i = 1; i <= 200; i++) bob.send({ type: 'publish', room: 'r', data: i });
      await stream.done;
      expect(stream.frames.at(-1)).to.include({ type: 'bye', code: 'SLOW_CONSUMER' });
      // What it got before the cut is a prefix of the room, in order.
      const got = messagesOf(stream.frames);
      expect(got).to.deep.equal(Array.from({ length: got.length }, (_, i) => i + 1));
      expect(bob.isClosed).to.equal(false);
    });

    it('pings over the stream and closes with HEARTBEAT_TIMEOUT when no pong is POSTed', async () => {
      const running = await serve({ heartbeatMs: 40, pongTimeoutMs: 80 });
      const { stream } = await member(running.httpUrl, 'ada');
      await stream.done;
      expect(stream.frames.map((f) => f['type'])).to.deep.equal(['welcome', 'ping', 'bye']);
      expect(stream.frames.at(-1)).to.include({ code: 'HEARTBEAT_TIMEOUT' });
    });

    it('stays open while pongs are POSTed', async () => {
      const running = await serve({ heartbeatMs: 40, pongTimeoutMs: 80 });
      const { stream, sid } = await member(running.httpUrl, 'ada');
      let answered = 0;
      for (const deadline = Date.now() + 400; Date.now() < deadline; ) {
        const pings = stream.frames.filter((f) => f['type'] === 'ping');
        if (pings.length > answered) {
          await post(running.httpUrl, sid, pings.slice(answered).map((p) => ({ type: 'pong', ts: p['ts'] })), stream.lastId);
          answered = pings.length;
        }
        await delay(10);
      }
      expect(answered).to.be.at.least(3);
      expect(stream.frames.some((f) => f['type'] === 'bye')).to.equal(false);
      expect(running.server.isOnline('ada')).to.equal(true);
    });
  });

  describe('server options', () => {
    it('with websocket: false refuses every upgrade with 403 and serves the HTTP carrier', async () => {
      const server = new HubServer({ trustClientUser: true });
      const { ws } = await server.listen({ ws: { port: 0, websocket: false } });
      try {
        const socket = new WebSocket(`ws://127.0.0.1:${ws?.port}/`);
        const status = await new Promise<number>((resolve) => {
          socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
          socket.on('error', () => {});
          socket.on('open', () => resolve(101));
        });
        expect(status).to.equal(403);
        const { stream } = await member(`http://127.0.0.1:${ws?.port}`, 'ada');
        expect(stream.frames[0]).to.include({ type: 'welcome' });
      } finally {
        await closeServers(server);
      }
    });

    it('with http: false answers the carrier paths 404 like any unknown path; the carrier lives under ws.path when one is set', async () => {
      const off = new HubServer({ trustClientUser: true });
      const pathed = new HubServer({ trustClientUser: true });
      try {
        const { ws } = await off.listen({ ws: { port: 0, http: false } });
        const response = await fetch(`http://127.0.0.1:${ws?.port}/_http`);
        expect(response.status).to.equal(404);
        await response.body?.cancel();
        const at = (await pathed.listen({ ws: { port: 0, path: '/hub' } })).ws;
        const elsewhere = await fetch(`http://127.0.0.1:${at?.port}/_http`);
        expect(elsewhere.status).to.equal(404);
        await elsewhere.body?.cancel();
        const { stream } = await member(`http://127.0.0.1:${at?.port}/hub`, 'ada');
        expect(stream.frames[0]).to.include({ type: 'welcome' });
      } finally {
        await closeServers(off, pathed);
      }
    });

    it('with a websocket function, decides per upgrade request; one that throws refuses and goes to onError', async () => {
      const errors: unknown[] = [];
      const server = new HubServer({ trustClientUser: true, onError: (error) => errors.push(error) });
      const { ws } = await server.listen({
        ws: {
          port: 0,
          websocket: (request) => {
            if (request.headers['x-boom'] !== undefined) throw new Error('boom');
            return request.headers['user-agent'] !== 'blocked';
          },
        },
      });
      const statusOf = (headers: Record<string, string>): Promise<number> =>
        new Promise((resolve) => {
          const socket = new WebSocket(`ws://127.0.0.1:${ws?.port}/`, { headers });
          socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
          socket.on('error', () => {});
          socket.on('open', () => {
            socket.close();
            resolve(101);
          });
        });
      try {
        expect(await statusOf({ 'user-agent': 'fine' })).to.equal(101);
        expect(await statusOf({ 'user-agent': 'blocked' })).to.equal(403);
        expect(await statusOf({ 'x-boom': '1' })).to.equal(403);
        expect(errors.map((e) => (e as Error).message)).to.deep.equal(['boom']);
      } finally {
        await closeServers(server);
      }
    });

    it('rejects a malformed ws.websocket or ws.http option with a TypeError', async () => {
      const server = new HubServer();
      try {
        await server.listen({ ws: { port: 0, websocket: 'no' as unknown as boolean } }).then(() => expect.fail('accepted'), (error: unknown) => expect(error).to.be.instanceOf(TypeError));
        await server.listen({ ws: { port: 0, http: { graceMs: 0 } } }).then(() => expect.fail('accepted'), (error: unknown) => expect(error).to.be.instanceOf(TypeError));
      } finally {
        await closeServers(server);
      }
    });
  });

  describe('browser origins (allowedOrigins)', () => {
    it('by default serves pages of the server itself and programs without Origin, and refuses every request of another origin with 403 ORIGIN_NOT_ALLOWED', async () => {
      const errors: unknown[] = [];
      const running = await serve({ metrics: true, onError: (error) => errors.push(error) });
      const own = new URL(running.httpUrl).host;
      const opened = await fetch(`${running.httpUrl}/_http`, { headers: { origin: `http://${own}` } });
      expect(opened.status).to.equal(200);
      await opened.body?.cancel();
      const { sid } = await member(running.httpUrl, 'ada');
      const foreign = { origin: 'https://evil.example' };
      for (const [method, path] of [['GET', '/_http'], ['POST', `/_http/${sid}?seen=0`], ['GET', `/_http/${sid}?seen=0`]] as const) {
        const response = await fetch(`${running.httpUrl}${path}`, { method, headers: foreign, ...(method === 'POST' ? { body: '{"type":"ping"}' } : {}) });
        expect(await refusal(response), `${method} ${path}`).to.deep.equal({ status: 403, code: 'ORIGIN_NOT_ALLOWED' });
      }
      // The POST refused for its origin acted on nothing: the binding still works for its own client.
      expect((await post(running.httpUrl, sid, [{ type: 'ping', ts: 5 }], 1)).status).to.equal(204);
      const families = parseExposition(await (await fetch(`${running.httpUrl}/metrics`)).text());
      expect(valueOf(families, 'msghub_origin_refusals_total', { carrier: 'http' })).to.equal(3);
      expect(errors.map((e) => (e as { code?: unknown }).code)).to.deep.equal(['ORIGIN_NOT_ALLOWED']);
    });

    it('with a list, serves exactly the listed origins', async () => {
      const running = await serve({ allowedOrigins: ['https://chat.example'] });
      const listed = await fetch(`${running.httpUrl}/_http`, { headers: { origin: 'https://chat.example' } });
      expect(listed.status).to.equal(200);
      await listed.body?.cancel();
      const own = await fetch(`${running.httpUrl}/_http`, { headers: { origin: running.httpUrl } });
      expect(await refusal(own)).to.deep.equal({ status: 403, code: 'ORIGIN_NOT_ALLOWED' });
    });
  });

  describe('observability', () => {
    it('counts HTTP connections under carrier "http" in the metrics and the admin view', async () => {
      const token = 'admin-token-0123456789';
      const running = await serve({ metrics: true, admin: { token } });
      await member(running.httpUrl, 'ada');
      await running.user('bob');
      const families = parseExposition(await (await fetch(`${running.httpUrl}/metrics`)).text());
      expect(valueOf(families, 'msghub_connections', { carrier: 'http' })).to.equal(1);
      expect(valueOf(families, 'msghub_connections', { carrier: 'ws' })).to.equal(1);
      expect(valueOf(families, 'msghub_connections_opened_total', { carrier: 'http' })).to.equal(1);
      const state = (await (await fetch(`${running.httpUrl}/admin/api/state`, { headers: { authorization: `Bearer ${token}` } })).json()) as { connections: Record<string, number> };
      expect(state.connections).to.deep.equal({ http: 1, ws: 1 });
    });
  });

  it('serves a TestClient over HTTP like the others (the helper the fuzz and bad-input tests use)', async () => {
    const running = await serve();
    const client = await TestClient.http(running.httpUrl);
    await client.hello({ user: 'ada' });
    client.send({ type: 'request', ref: 1, op: 'online', data: { user: 'ada' } });
    expect(await client.next('response')).to.include({ ref: 1, data: true });
  });
});
