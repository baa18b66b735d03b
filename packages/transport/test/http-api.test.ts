import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { MemoryStore, type HubEvent, type RoomStore } from '@msghub/messagehub';
import { HubServer, type HubServerOptions } from '../src/index.js';
import { cleanup, startServer } from './helpers.js';

const KEY = 'backend-key-0123456789';

interface Answer {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
}

/** A server with the API on, and a caller for it that sends the key unless told otherwise. */
async function apiServer(options: HubServerOptions = {}) {
  const running = await startServer({ apiKey: KEY, ...options });
  const base = running.wsUrl.replace('ws:', 'http:');
  const call = async (method: string, path: string, body?: string, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }): Promise<Answer> => {
    const response = await fetch(new URL(path, base), { method, headers, ...(body === undefined ? {} : { body }) });
    const isJson = response.headers.get('content-type')?.startsWith('application/json') ?? false;
    return { status: response.status, json: isJson ? ((await response.json()) as Record<string, unknown>) : {}, headers: response.headers };
  };
  return { ...running, base, call };
}

function failingStore(): RoomStore {
  const inner = new MemoryStore();
  return {
    encodes: false,
    open: (room, options) => inner.open(room, options),
    append: () => Promise.reject(new Error('disk full')),
    read: (room, since, limit) => inner.read(room, since, limit),
    release: () => undefined,
  };
}

describe('HTTP API', () => {
  afterEach(cleanup);

  describe('apiKey', () => {
    it('is off unless set: the paths answer 404 and publish nothing', async () => {
      const { server, wsUrl } = await startServer();
      const response = await fetch(new URL('/rooms/r/publish', wsUrl.replace('ws:', 'http:')), {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: '{"data":1}',
      });
      expect(response.status).to.equal(404);
      expect(server.rooms.get('r')).to.equal(undefined);
    });

    it('refuses a key shorter than 16 characters or not a string with a TypeError', () => {
      expect(() => new HubServer({ apiKey: 'short' })).to.throw(TypeError);
      expect(() => new HubServer({ apiKey: 7 as unknown as string })).to.throw(TypeError);
    });

    it('answers 401 NOT_AUTHENTICATED without a bearer token and 401 AUTH_FAILED with a wrong one, acting on nothing', async () => {
      const { server, call } = await apiServer();
      const missing = await call('POST', '/rooms/r/publish', '{"data":1}', {});
      expect(missing.status).to.equal(401);
      expect(missing.json).to.include({ code: 'NOT_AUTHENTICATED' });
      expect(missing.headers.get('www-authenticate')).to.match(/^Bearer/);
      for (const authorization of [`Bearer ${KEY}x`, `Basic ${KEY}`, KEY, 'Bearer ']) {
        const wrong = await call('POST', '/rooms/r/publish', '{"data":1}', { authorization });
        expect(wrong.status, authorization).to.equal(401);
        expect(wrong.json['code'], authorization).to.be.oneOf(['AUTH_FAILED', 'NOT_AUTHENTICATED']);
      }
      expect((await call('GET', '/rooms/r/history', undefined, { authorization: 'Bearer nope' })).status).to.equal(401);
      expect((await call('POST', '/users/bob/send', '{"data":1,"from":"a"}', {})).status).to.equal(401);
      expect(server.rooms.get('r')).to.equal(undefined);
    });
  });

  describe('POST /rooms/:room/publish', () => {
    it('commits the data as an event from `from`, answers its id, and delivers it to the members', async () => {
      const { user, call } = await apiServer();
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'lobby' });
      await ada.next('ok');
      const answer = await call('POST', '/rooms/lobby/publish', JSON.stringify({ data: { text: 'hi' }, from: 'backend' }));
      expect(answer.status).to.equal(200);
      expect(answer.json['id']).to.be.a('number');
      // The member's own join event comes first.
      let event: Record<string, unknown>;
      do event = (await ada.next('event'))['event'] as Record<string, unknown>;
      while (event['id'] !== answer.json['id']);
      expect(event).to.include({ userId: 'backend' });
      expect(event.message).to.deep.equal({ text: 'hi' });
    });

    it('opens a room nobody has joined, and answers 404 ROOM_NOT_FOUND when rooms are not created on demand', async () => {
      const { server, call } = await apiServer();
      expect((await call('POST', '/rooms/empty/publish', '{"data":"x"}')).status).to.equal(200);
      expect(server.rooms.get('empty')).to.not.equal(undefined);
      const closed = await apiServer({ autoCreateRooms: false });
      const refused = await closed.call('POST', '/rooms/none/publish', '{"data":"x"}');
      expect(refused.status).to.equal(404);
      expect(refused.json).to.include({ code: 'ROOM_NOT_FOUND' });
      closed.server.rooms.create('made');
      expect((await closed.call('POST', '/rooms/made/publish', '{"data":"x"}')).status).to.equal(200);
    });

    it('takes percent-encoded room names', async () => {
      const { server, call } = await apiServer();
      expect((await call('POST', `/rooms/${encodeURIComponent('a b/ç')}/publish`, '{"data":1}')).status).to.equal(200);
      expect(server.rooms.get('a b/ç')).to.not.equal(undefined);
    });

    it('answers 503 STORE_FAILED when the room\u2019s store fails the commit', async () => {
      const { call } = await apiServer({ store: failingStore(), onError: () => undefined });
      const answer = await call('POST', '/rooms/r/publish', '{"data":1}');
      expect(answer.status).to.equal(503);
      expect(answer.json).to.include({ code: 'STORE_FAILED' });
    });
  });

  describe('GET /rooms/:room/history', () => {
    it('answers the committed events after `since`, oldest first, at most `limit`', async () => {
      const { call } = await apiServer();
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push((await call('POST', '/rooms/r/publish', JSON.stringify({ data: i }))).json['id'] as number);
      const all = await call('GET', '/rooms/r/history');
      expect(all.status).to.equal(200);
      expect((all.json['events'] as { message?: unknown }[]).map((e) => e.message)).to.deep.equal([0, 1, 2, 3, 4]);
      const some = await call('GET', `/rooms/r/history?since=${ids[1]}&limit=2`);
      expect((some.json['events'] as HubEvent<unknown>[]).map((e) => e.id)).to.deep.equal([ids[2], ids[3]]);
    });

    it('answers 400 INVALID_FIELD for a `since` or `limit` that is not an integer in range', async () => {
      const { call } = await apiServer();
      for (const query of ['since=-1', 'since=1.5', 'since=x', 'since=', 'limit=0', 'limit=1001', 'limit=1e3', 'since=99999999999999999']) {
        const answer = await call('GET', `/rooms/r/history?${query}`);
        expect(answer.status, query).to.equal(400);
        expect(answer.json, query).to.include({ code: 'INVALID_FIELD' });
      }
    });
  });

  describe('POST /users/:user/send', () => {
    it('sends a direct message to every connection of an online user', async () => {
      const { user, call } = await apiServer();
      const bob1 = await user('bob');
      const bob2 = await user('bob', 'tcp');
      const answer = await call('POST', '/users/bob/send', JSON.stringify({ data: 'psst', from: 'backend' }));
      expect(answer.status).to.equal(200);
      expect(answer.json['id']).to.be.a('string');
      for (const bob of [bob1, bob2]) expect(await bob.next('direct')).to.include({ id: answer.json['id'], from: 'backend', data: 'psst' });
    });

    it('queues it for an offline user, who gets it on connecting', async () => {
      const { user, call } = await apiServer();
      const answer = await call('POST', '/users/carol/send', JSON.stringify({ data: 'later', from: 'backend', ttlMs: 60_000 }));
      expect(answer.status).to.equal(200);
      const carol = await user('carol');
      expect(await carol.next('direct')).to.include({ id: answer.json['id'], data: 'later' });
    });

    it('answers 404 OFFLINE for ttlMs 0 and an offline user, and queues nothing', async () => {
      const { user, call } = await apiServer();
      const answer = await call('POST', '/users/dave/send', JSON.stringify({ data: 'now', from: 'backend', ttlMs: 0 }));
      expect(answer.status).to.equal(404);
      expect(answer.json).to.include({ code: 'OFFLINE' });
      const dave = await user('dave');
      dave.send({ type: 'request', ref: 1, op: 'online', data: { user: 'dave' } });
      await dave.next('response');
      expect(dave.frames.filter((f) => f.type === 'direct')).to.deep.equal([]);
    });

    it('answers 404 NOT_FOUND for an offline user when the server keeps no offline queue', async () => {
      const { call } = await apiServer({ offlineQueue: false });
      const answer = await call('POST', '/users/nobody/send', JSON.stringify({ data: 1, from: 'backend' }));
      expect(answer.status).to.equal(404);
      expect(answer.json).to.include({ code: 'NOT_FOUND' });
    });
  });

  describe('bad input', () => {
    it('answers 405 METHOD_NOT_ALLOWED with an Allow header for the wrong method', async () => {
      const { call } = await apiServer();
      for (const [method, path, allow] of [
        ['GET', '/rooms/r/publish', 'POST'],
        ['PUT', '/rooms/r/publish', 'POST'],
        ['POST', '/rooms/r/history', 'GET'],
        ['DELETE', '/users/u/send', 'POST'],
      ] as const) {
        const answer = await call(method, path, method === 'GET' ? undefined : '{}');
        expect(answer.status, `${method} ${path}`).to.equal(405);
        expect(answer.json).to.include({ code: 'METHOD_NOT_ALLOWED' });
        expect(answer.headers.get('allow')).to.equal(allow);
      }
    });

    it('answers 400 BAD_FRAME for a body that is not a JSON object', async () => {
      const { server, call } = await apiServer();
      for (const path of ['/rooms/r/publish', '/users/u/send']) {
        for (const body of ['', 'not json', '{"data":', 'null', '[1]', '"data"', '7']) {
          const answer = await call('POST', path, body);
          expect(answer.status, `${path} ${body}`).to.equal(400);
          expect(answer.json, `${path} ${body}`).to.include({ code: 'BAD_FRAME' });
        }
      }
      expect(server.rooms.get('r')).to.equal(undefined);
    });

    it('answers 400 INVALID_FIELD for fields of the wrong type or range', async () => {
      const { call } = await apiServer();
      const cases: [string, unknown][] = [
        ['/rooms/r/publish', {}],
        ['/rooms/r/publish', { data: 1, from: '' }],
        ['/rooms/r/publish', { data: 1, from: 7 }],
        ['/rooms/r/publish', { data: 1, from: 'x'.repeat(257) }],
        ['/users/u/send', { data: 1 }],
        ['/users/u/send', { from: 'a' }],
        ['/users/u/send', { data: 1, from: null }],
        ['/users/u/send', { data: 1, from: 'a', ttlMs: -1 }],
        ['/users/u/send', { data: 1, from: 'a', ttlMs: 1.5 }],
        ['/users/u/send', { data: 1, from: 'a', ttlMs: '10' }],
        ['/users/u/send', { data: 1, from: 'a', ttlMs: 2_592_000_001 }],
      ];
      for (const [path, body] of cases) {
        const answer = await call('POST', path, JSON.stringify(body));
        expect(answer.status, `${path} ${JSON.stringify(body)}`).to.equal(400);
        expect(answer.json).to.include({ code: 'INVALID_FIELD' });
      }
    });

    it('answers 400 INVALID_FIELD for a room or user name outside the name rules', async () => {
      const { call } = await apiServer();
      for (const path of ['/rooms//publish', `/rooms/${'x'.repeat(257)}/publish`, '/rooms/%E0%A4%A/publish', '/users//send', '/rooms//history']) {
        const answer = await call(path.endsWith('history') ? 'GET' : 'POST', path, path.endsWith('history') ? undefined : '{"data":1,"from":"a"}');
        expect(answer.status, path).to.equal(400);
        expect(answer.json).to.include({ code: 'INVALID_FIELD' });
      }
    });

    it('answers 413 FRAME_TOO_LARGE for a body over maxFrameBytes, declared or streamed, and 400 FRAME_TOO_DEEP past 64 levels', async () => {
      const { base, call, server } = await apiServer({ maxFrameBytes: 1024 });
      const declared = await call('POST', '/rooms/r/publish', JSON.stringify({ data: 'x'.repeat(2000) }));
      expect(declared.status).to.equal(413);
      expect(declared.json).to.include({ code: 'FRAME_TOO_LARGE' });
      // A chunked body (no content-length) is cut off as it arrives.
      const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(new URL('/rooms/r/publish', base), { method: 'POST', headers: { authorization: `Bearer ${KEY}` } }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.write('{"data":"');
        req.write('y'.repeat(3000));
        req.end('"}');
      });
      expect(streamed.status).to.equal(413);
      expect(JSON.parse(streamed.body)).to.include({ code: 'FRAME_TOO_LARGE' });
      const deep = await call('POST', '/rooms/r/publish', `{"data":${'['.repeat(70)}${']'.repeat(70)}}`);
      expect(deep.status).to.equal(400);
      expect(deep.json).to.include({ code: 'FRAME_TOO_DEEP' });
      expect(server.rooms.get('r')).to.equal(undefined);
    });

    it('answers every request of random bytes and paths with JSON and a documented code, and keeps serving', async () => {
      const { call } = await apiServer();
      const codes = new Set(['BAD_FRAME', 'INVALID_FIELD', 'FRAME_TOO_DEEP', 'METHOD_NOT_ALLOWED']);
      let seed = 7;
      const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (let i = 0; i < 60; i++) {
        const bytes = Array.from({ length: Math.floor(random() * 40) }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join('');
        const path = ['/rooms/r/publish', '/users/u/send'][i % 2] as string;
        const answer = await call('POST', path, bytes);
        if (answer.status !== 200) expect(codes.has(answer.json['code'] as string), `${answer.status} ${bytes}`).to.equal(true);
      }
      expect((await call('POST', '/rooms/r/publish', '{"data":"still"}')).status).to.equal(200);
    });

    it('leaves other paths alone (404)', async () => {
      const { call } = await apiServer();
      for (const path of ['/rooms/r', '/rooms/r/send', '/users/u/publish', '/rooms/r/history/x', '/users/u/history']) {
        expect((await call('GET', path)).status, path).to.equal(404);
      }
    });
  });
});
