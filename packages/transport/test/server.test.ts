import { expect } from 'chai';
import type { MessageHub } from '@msghub/messagehub';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForbiddenError, HubServer, InvalidUserIdError, MemoryOfflineQueue, WIRE_ERROR_CODES } from '../src/index.js';
import { MemoryStore, type HubEvent, type RoomStore } from '@msghub/messagehub';
import { TestClient, cleanup, delay, startServer, type Running } from './helpers.js';

/** A memory store whose commits fail while `failing` is set. */
function flakyStore(): { store: RoomStore; fail(on: boolean): void } {
  const inner = new MemoryStore();
  let failing = false;
  return {
    fail: (on) => {
      failing = on;
    },
    store: {
      encodes: false,
      open: (room, options) => inner.open(room, options),
      append: <T>(room: string, events: readonly HubEvent<T>[]) =>
        failing ? Promise.reject(new Error('disk full')) : Promise.resolve(inner.append(room, events)),
      read: (room, since, limit) => inner.read(room, since, limit),
      release: () => undefined,
    },
  };
}

describe('HubServer', () => {
  afterEach(cleanup);

  describe('handshake', () => {
    it('welcomes a hello over WebSocket and TCP', async () => {
      const { ws, tcp } = await startServer();
      for (const client of [await ws(), await tcp()]) {
        const welcome = await client.hello({ user: 'ada' });
        expect(welcome).to.include({ type: 'welcome', v: 1, userId: 'ada', heartbeatMs: 25000, maxFrameBytes: 1048576 });
        expect(welcome['connectionId']).to.be.a('string');
      }
    });

    it('refuses frames before welcome with NOT_AUTHENTICATED and keeps the connection', async () => {
      const { ws } = await startServer();
      const client = await ws();
      client.send({ type: 'join', ref: 1, room: 'lobby' });
      expect(await client.next('error')).to.include({ code: 'NOT_AUTHENTICATED', ref: 1, frame: 'join' });
      client.send({ type: 'ping', ts: 5 });
      expect(await client.next('pong')).to.include({ ts: 5 });
      await client.hello({ user: 'ada' });
    });

    it('handles frames pipelined after hello once authenticated, in order', async () => {
      const { wsUrl } = await startServer({
        authenticate: async ({ hello }) => {
          await delay(10);
          return hello.user;
        },
      });
      const client = await TestClient.ws(wsUrl);
      client.send({ type: 'hello', v: 1, user: 'ada' });
      client.send({ type: 'join', ref: 1, room: 'x' });
      client.send({ type: 'publish', ref: 2, room: 'x', data: 'first' });
      expect((await client.next()).type).to.equal('welcome');
      expect(await client.next('ok')).to.include({ ref: 1 });
      expect(await client.next('ok')).to.include({ ref: 2 });
    });

    it('answers an unsupported version with the supported list, then closes', async () => {
      const { tcp } = await startServer();
      const client = await tcp();
      client.send({ type: 'hello', v: 2 });
      expect(await client.next('error')).to.deep.include({ code: 'UNSUPPORTED_VERSION', supported: [1] });
      expect(await client.next('bye')).to.include({ code: 'UNSUPPORTED_VERSION' });
      await client.closed;
    });

    it('rejects a client-chosen user unless trustClientUser, counting the failure', async () => {
      const { ws, server } = await startServer({ trustClientUser: false });
      const client = await ws();
      client.send({ type: 'hello', v: 1, user: 'mallory' });
      expect(await client.next('error')).to.include({ code: 'AUTH_FAILED' });
      expect(await client.next('bye')).to.include({ code: 'AUTH_FAILED' });
      await client.closed;
      expect(server.metrics().authFailures).to.equal(1);
    });

    it('redeems a connect token exactly once', async () => {
      const { ws, server } = await startServer({ trustClientUser: false });
      const token = server.tokens.issue('ada', { meta: { role: 'admin' } });
      expect(Buffer.from(token, 'base64url')).to.have.length(32);
      const first = await ws();
      expect(await first.hello({ token })).to.include({ userId: 'ada' });
      const second = await ws();
      second.send({ type: 'hello', v: 1, token });
      expect(await second.next('error')).to.include({ code: 'AUTH_FAILED' });
    });

    it('takes the token from the WebSocket URL query', async () => {
      const { wsUrl, server } = await startServer({ trustClientUser: false });
      const token = server.tokens.issue('bob');
      const client = await TestClient.ws(`${wsUrl}?token=${token}`);
      expect(await client.hello({})).to.include({ userId: 'bob' });
    });

    it('passes the handshake headers to a custom authenticator', async () => {
      const { wsUrl } = await startServer({
        authenticate: ({ handshake }) => (handshake.headers['authorization'] === 'Bearer good' ? { userId: 'carol' } : false),
      });
      const good = await TestClient.ws(wsUrl, { authorization: 'Bearer good' });
      expect(await good.hello({})).to.include({ userId: 'carol' });
      const bad = await TestClient.ws(wsUrl, { authorization: 'Bearer bad' });
      bad.send({ type: 'hello', v: 1 });
      expect(await bad.next('error')).to.include({ code: 'AUTH_FAILED' });
    });

    for (const carrier of ['ws', 'tcp'] as const) {
      it(`refuses a hello.user outside 1 to 256 characters over ${carrier} with INVALID_FIELD and lets the client say hello again`, async () => {
        const running = await startServer();
        const client = carrier === 'ws' ? await running.ws() : await running.tcp();
        for (const user of ['x'.repeat(257), '']) {
          client.send({ type: 'hello', v: 1, user });
          expect(await client.next('error')).to.include({ code: 'INVALID_FIELD', frame: 'hello' });
        }
        expect(await client.hello({ user: 'x'.repeat(256) })).to.include({ userId: 'x'.repeat(256) });
        expect(running.server.metrics().authFailures).to.equal(0);
      });
    }

    it('fails authentication for a user id over 256 characters from the WebSocket URL', async () => {
      const { wsUrl, server } = await startServer();
      const client = await TestClient.ws(`${wsUrl}?user=${'x'.repeat(257)}`);
      client.send({ type: 'hello', v: 1 });
      expect(await client.next('error')).to.include({ code: 'AUTH_FAILED' });
      await client.closed;
      expect(server.metrics().authFailures).to.equal(1);
    });

    it('refuses to issue a connect token for a user id outside 1 to 256 characters', async () => {
      const { ws, server } = await startServer({ trustClientUser: false });
      for (const userId of ['x'.repeat(257), '']) {
        expect(() => server.tokens.issue(userId))
          .to.throw(InvalidUserIdError)
          .that.is.instanceOf(TypeError)
          .and.has.property('code', 'INVALID_FIELD');
      }
      expect(server.tokens.size).to.equal(0);
      const token = server.tokens.issue('x'.repeat(256));
      expect(await (await ws()).hello({ token })).to.include({ userId: 'x'.repeat(256) });
    });

    it('closes a connection that sends no hello within the auth timeout', async () => {
      const { tcp, server } = await startServer({ authTimeoutMs: 40 });
      const client = await tcp();
      expect(await client.next('error')).to.include({ code: 'AUTH_TIMEOUT' });
      expect(await client.next('bye')).to.include({ code: 'AUTH_TIMEOUT' });
      await client.closed;
      expect(server.metrics().authFailures).to.equal(1);
    });
  });

  describe('connection ids', () => {
    /** Welcomes `count` connections (WebSocket and TCP in turn); returns their ids and session ids. */
    async function idsOf(running: Running, count: number): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const client = i % 2 === 0 ? await running.ws() : await running.tcp();
        const { connectionId } = await client.hello({ user: `u${i}` });
        client.send({ type: 'join', ref: 1, room: 'ids' });
        const own = await client.waitFor((f) => f.type === 'event' && (f['event'] as { userId?: string }).userId === `u${i}`);
        expect(own['event']).to.include({ sessionId: connectionId });
        ids.push(String(connectionId));
        client.close();
      }
      return ids;
    }

    it('are random URL-safe ids that no other server, nor the same server restarted, hands out', async () => {
      const first = await startServer();
      const second = await startServer();
      const ids = [...(await idsOf(first, 6)), ...(await idsOf(second, 6))];
      await first.server.close();
      const ports = { ws: Number(new URL(first.wsUrl).port), tcp: first.tcpPort };
      const restarted = await startServer({}, ports);
      ids.push(...(await idsOf(restarted, 6)));
      for (const id of ids) expect(id).to.match(/^[A-Za-z0-9_-]{16,}$/);
      expect(new Set(ids).size).to.equal(ids.length);
    });
  });

  describe('rooms', () => {
    it('tells the members of a room whose store failed to reconnect (bye STORE_FAILED), and opens it again from the store', async () => {
      const flaky = flakyStore();
      const { user } = await startServer({ store: flaky.store, onError: () => undefined });
      const ada = await user('ada');
      const bob = await user('bob', 'tcp');
      ada.send({ type: 'join', ref: 1, room: 'r' });
      const { epoch } = await ada.next('ok');
      bob.send({ type: 'join', ref: 1, room: 'r' });
      await bob.next('ok');
      ada.send({ type: 'publish', ref: 2, room: 'r', data: 'kept' });
      expect(await ada.next('ok')).to.include({ ref: 2, id: 3 });
      flaky.fail(true);
      ada.send({ type: 'publish', ref: 3, room: 'r', data: 'lost?' });
      expect(await bob.next('bye')).to.include({ code: 'STORE_FAILED' });
      expect(await ada.next('bye')).to.include({ code: 'STORE_FAILED' });
      // Nobody was shown the event whose commit failed.
      for (const client of [ada, bob]) {
        expect(client.frames.some((f) => f.type === 'event' && (f['event'] as { message?: unknown }).message === 'lost?')).to.equal(false);
      }
      flaky.fail(false);
      const again = await user('ada');
      again.send({ type: 'join', ref: 1, room: 'r', since: 3, epoch });
      expect(await again.next('ok')).to.include({ lastEventId: 3, epoch });
      const own = await again.next('event');
      expect(own['event']).to.include({ id: 4, type: 'join', userId: 'ada' });
    });

    it('joins, answers ok with the last event id and the epoch, then streams events in order', async () => {
      const { user, server } = await startServer();
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'lobby' });
      const ok = await ada.next('ok');
      expect(ok).to.deep.equal({ type: 'ok', ref: 1, room: 'lobby', lastEventId: 0, epoch: server.rooms.get('lobby')?.epoch });
      expect(ok['epoch']).to.match(/^[A-Za-z0-9_-]{16,}$/);
      const join = await ada.next('event');
      expect(join['event']).to.include({ id: 1, type: 'join', userId: 'ada', chatroomId: 'lobby' });
      const bob = await user('bob', 'tcp');
      bob.send({ type: 'join', ref: 'j', room: 'lobby' });
      expect(await bob.next('ok')).to.include({ lastEventId: 1 });
      bob.send({ type: 'publish', ref: 2, room: 'lobby', data: { text: 'hi' } });
      expect(await bob.next('ok')).to.deep.equal({ type: 'ok', ref: 2, id: 3 });
      const seen = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message');
      expect(seen['event']).to.include({ id: 3, userId: 'bob' });
      expect((seen['event'] as { message: unknown }).message).to.deep.equal({ text: 'hi' });
    });

    it('delivers events of every WebSocket length encoding intact and in order, interleaved with answers', async () => {
      const { user, server } = await startServer();
      server.handle('echo', (input) => input);
      const ada = await user('ada');
      const bob = await user('bob');
      for (const client of [ada, bob]) {
        client.send({ type: 'join', ref: 'j', room: 'lobby' });
        await client.next('ok');
      }
      const hub = server.rooms.get('lobby') as MessageHub<unknown>;
      // 7-bit, 16-bit and 64-bit payload lengths, each framed once and shared by both sockets.
      const texts = ['s', 'm'.repeat(300), 'l'.repeat(70_000), 'n'.repeat(126), 'o'.repeat(65_536)];
      for (const [i, text] of texts.entries()) {
        void hub.message('srv', { i, text });
        // An answer (its own text frame) between two shared event frames.
        ada.send({ type: 'request', ref: `r${i}`, op: 'echo', data: i });
      }
      for (const client of [ada, bob]) {
        for (const [i, text] of texts.entries()) {
          const seen = await client.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message');
          expect((seen['event'] as { message: unknown }).message).to.deep.equal({ i, text });
        }
      }
      const answers = (): unknown[] => ada.frames.filter((f) => f.type === 'response').map((f) => f['data']);
      for (let waited = 0; answers().length < texts.length && waited < 2000; waited += 10) await delay(10);
      expect(answers()).to.deep.equal([0, 1, 2, 3, 4]);
    });

    it('refuses a second join, a publish outside the room and a leave outside it', async () => {
      const { user } = await startServer();
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'a' });
      await ada.next('ok');
      ada.send({ type: 'join', ref: 2, room: 'a' });
      expect(await ada.next('error')).to.include({ code: 'ALREADY_JOINED', ref: 2 });
      ada.send({ type: 'publish', ref: 3, room: 'b', data: 1 });
      expect(await ada.next('error')).to.include({ code: 'NOT_JOINED', ref: 3, frame: 'publish' });
      ada.send({ type: 'leave', ref: 4, room: 'b' });
      expect(await ada.next('error')).to.include({ code: 'NOT_JOINED', ref: 4 });
    });

    it('resumes with since beyond the in-memory history from the room store, with no gap', async () => {
      const { user, server } = await startServer({ hubOptions: { historySize: 2 } });
      const hub = server.rooms.create('r');
      for (let i = 0; i < 5; i++) await hub.system(`m${i}`);
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'r', since: 1, epoch: hub.epoch });
      expect(await ada.next('ok')).to.include({ lastEventId: 5 });
      const own = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'join');
      expect(own['event']).to.include({ id: 6 });
      const ids = ada.frames.filter((f) => f.type === 'event').map((f) => (f['event'] as { id: number }).id);
      expect(ids).to.deep.equal([2, 3, 4, 5, 6]);
      expect(ada.frames.some((f) => f.type === 'gap')).to.equal(false);
    });

    it('resumes with since: replays what the store still keeps, preceded by a gap when trimmed', async () => {
      // The room's store keeps as little as its history: what both forgot is a gap.
      const { user, server } = await startServer({ hubOptions: { historySize: 2 }, store: new MemoryStore({ retain: 2 }) });
      const hub = server.rooms.create('r');
      for (let i = 0; i < 5; i++) await hub.system(`m${i}`);
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'r', since: 1 });
      expect(await ada.next('ok')).to.include({ lastEventId: 5 });
      expect(await ada.next('gap')).to.deep.equal({ type: 'gap', room: 'r', since: 1, resumeAt: 4, reason: 'trimmed', epoch: hub.epoch });
      expect(((await ada.next('event'))['event'] as { id: number }).id).to.equal(4);
      expect(((await ada.next('event'))['event'] as { id: number }).id).to.equal(5);
      expect(((await ada.next('event'))['event'] as { type: string }).type).to.equal('join');
    });

    it('leaves a room: ok, and the others see leave', async () => {
      const { user } = await startServer();
      const ada = await user('ada');
      const bob = await user('bob');
      for (const c of [ada, bob]) {
        c.send({ type: 'join', ref: 1, room: 'x' });
        await c.next('ok');
      }
      bob.send({ type: 'leave', ref: 2, room: 'x' });
      expect(await bob.next('ok')).to.include({ ref: 2, room: 'x' });
      const leave = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'leave');
      expect(leave['event']).to.include({ userId: 'bob' });
    });

    it('removes the sessions of a dropped connection so the room sees leave', async () => {
      const { user } = await startServer();
      const ada = await user('ada');
      const bob = await user('bob', 'tcp');
      for (const c of [ada, bob]) {
        c.send({ type: 'join', ref: 1, room: 'x' });
        await c.next('ok');
      }
      bob.close();
      const leave = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'leave');
      expect(leave['event']).to.include({ userId: 'bob' });
    });

    it('whispers inside a room only to the two ends', async () => {
      const { user } = await startServer();
      const [ada, bob, eve] = [await user('ada'), await user('bob'), await user('eve')];
      for (const c of [ada, bob, eve]) {
        c.send({ type: 'join', ref: 1, room: 'x' });
        await c.next('ok');
      }
      ada.send({ type: 'direct', ref: 2, room: 'x', to: 'bob', data: 'psst' });
      const isWhisper = (f: Record<string, unknown>): boolean => f['type'] === 'event' && (f['event'] as { to?: string }).to === 'bob';
      await bob.waitFor(isWhisper);
      await ada.next('ok');
      expect(ada.frames.some(isWhisper)).to.equal(true);
      eve.send({ type: 'ping', ts: 1 });
      await eve.next('pong');
      expect(eve.frames.some(isWhisper)).to.equal(false);
    });

    it('refuses a message JSON cannot encode before it gets an id, reports it, and goes on with the next id', async () => {
      const reported: unknown[] = [];
      const { user, server } = await startServer({ onError: (e) => reported.push(e) });
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'x' });
      await ada.next('ok');
      const hub = server.rooms.get('x');
      await hub?.system({ big: 1n });
      expect(await hub?.publish({ cycle: 1n }).catch((error: unknown) => error)).to.have.property('code', 'UNENCODABLE');
      await hub?.system('after');
      const next = await ada.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message');
      expect(next['event']).to.include({ id: 2, message: 'after' });
      expect(reported).to.have.length(1);
      expect(reported[0]).to.have.property('code', 'UNENCODABLE');
    });

    it('answers ROOM_NOT_FOUND when rooms are explicit only', async () => {
      const { user, server } = await startServer({ autoCreateRooms: false });
      server.rooms.create('open');
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'closed' });
      expect(await ada.next('error')).to.include({ code: 'ROOM_NOT_FOUND', ref: 1 });
      ada.send({ type: 'join', ref: 2, room: 'open' });
      expect(await ada.next('ok')).to.include({ ref: 2 });
    });

    it('authorizes joins and publishes per room', async () => {
      const { user } = await startServer({
        authorizeJoin: async ({ room }) => room !== 'secret',
        authorizePublish: ({ data }) => {
          if (data === 'spam') throw new ForbiddenError('no spam');
          return true;
        },
      });
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'secret' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 1 });
      ada.send({ type: 'join', ref: 2, room: 'open' });
      await ada.next('ok');
      ada.send({ type: 'publish', ref: 3, room: 'open', data: 'spam' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 3 });
      ada.send({ type: 'publish', ref: 4, room: 'open', data: 'fine' });
      expect(await ada.next('ok')).to.include({ ref: 4 });
    });

    it('calls onRoomCreated once per room before anyone joins', async () => {
      const created: string[] = [];
      const events: string[] = [];
      const { user } = await startServer({
        onRoomCreated: (hub, room) => {
          created.push(room);
          hub.attachListener((event) => void events.push(event.type));
        },
      });
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'logged' });
      await ada.next('event');
      expect(created).to.deep.equal(['logged']);
      expect(events).to.deep.equal(['join']);
    });

    it('closes a room nobody joined for roomIdleTimeoutMs', async () => {
      const { user, server } = await startServer({ roomIdleTimeoutMs: 30 });
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'brief' });
      await ada.next('ok');
      const hub = server.rooms.get('brief');
      ada.send({ type: 'leave', ref: 2, room: 'brief' });
      await ada.next('ok');
      await hub?.closed;
      expect(server.rooms.get('brief')).to.equal(undefined);
    });
  });

  describe('direct messages', () => {
    it('delivers to every connection of an online user', async () => {
      const { user } = await startServer();
      const ada = await user('ada');
      const bob1 = await user('bob');
      const bob2 = await user('bob', 'tcp');
      ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'hey' });
      expect(await ada.next('ok')).to.include({ ref: 1 });
      for (const bob of [bob1, bob2]) expect(await bob.next('direct')).to.include({ from: 'ada', data: 'hey' });
    });

    it('queues for an offline user and delivers in order on the next connect', async () => {
      const { user, server } = await startServer();
      const ada = await user('ada');
      for (let i = 0; i < 3; i++) ada.send({ type: 'direct', ref: i, to: 'bob', data: i });
      for (let i = 0; i < 3; i++) await ada.next('ok');
      expect(server.metrics().offlineQueued).to.equal(3);
      const bob = await user('bob');
      const got = [await bob.next('direct'), await bob.next('direct'), await bob.next('direct')];
      expect(got.map((f) => f['data'])).to.deep.equal([0, 1, 2]);
    });

    it('answers OFFLINE_QUEUE_FULL past the queue bound', async () => {
      const { user } = await startServer({ offlineQueue: new MemoryOfflineQueue({ maxPerUser: 1 }) });
      const ada = await user('ada');
      ada.send({ type: 'direct', ref: 1, to: 'bob', data: 1 });
      await ada.next('ok');
      ada.send({ type: 'direct', ref: 2, to: 'bob', data: 2 });
      expect(await ada.next('error')).to.include({ code: 'OFFLINE_QUEUE_FULL', ref: 2 });
    });
  });

  describe('#handle', () => {
    it('answers requests with the handler result, its error code, or UNKNOWN_OP', async () => {
      const { user, server } = await startServer();
      server.handle('echo', async (input, { connection }) => ({ input, from: connection.userId }));
      server.handle('deny', () => {
        throw new ForbiddenError('nope');
      });
      const ada = await user('ada');
      ada.send({ type: 'request', ref: 1, op: 'echo', data: [1] });
      expect(await ada.next('response')).to.deep.equal({ type: 'response', ref: 1, data: { input: [1], from: 'ada' } });
      ada.send({ type: 'request', ref: 2, op: 'deny' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 2 });
      ada.send({ type: 'request', ref: 3, op: 'nope' });
      expect(await ada.next('error')).to.include({ code: 'UNKNOWN_OP', ref: 3 });
    });

    it('normalises an unknown throw to INTERNAL without leaking its message', async () => {
      const reported: unknown[] = [];
      const { user, server } = await startServer({ onError: (e) => reported.push(e) });
      server.handle('boom', () => {
        throw new Error('secret detail');
      });
      const ada = await user('ada');
      ada.send({ type: 'request', ref: 1, op: 'boom' });
      const error = await ada.next('error');
      expect(error).to.include({ code: 'INTERNAL', ref: 1 });
      expect(String(error['message'])).not.to.include('secret');
      expect(reported).to.have.length(1);
    });

    it('answers INTERNAL, reports, and goes on serving when a result cannot be encoded as JSON', async () => {
      const reported: unknown[] = [];
      const { user, server } = await startServer({ onError: (e) => reported.push(e) });
      server.handle('big', () => 1n);
      server.handle('echo', (input) => input);
      const ada = await user('ada');
      ada.send({ type: 'request', ref: 1, op: 'big' });
      expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 1 });
      expect(reported).to.have.length(1);
      ada.send({ type: 'request', ref: 2, op: 'echo', data: 'still here' });
      expect(await ada.next('response')).to.deep.equal({ type: 'response', ref: 2, data: 'still here' });
    });

    it('has built-in presence and online operations', async () => {
      const { user } = await startServer();
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'x' });
      await ada.next('ok');
      ada.send({ type: 'request', ref: 2, op: 'presence', data: { room: 'x' } });
      expect((await ada.next('response'))['data']).to.deep.equal([{ userId: 'ada', sessions: 1 }]);
      ada.send({ type: 'request', ref: 3, op: 'online', data: { user: 'zed' } });
      expect((await ada.next('response'))['data']).to.equal(false);
    });
  });

  describe('single session and kick', () => {
    it('kicks the older connection of a user with SESSION_REPLACED', async () => {
      const { user } = await startServer({ singleSession: true });
      const first = await user('ada');
      await user('ada', 'tcp');
      expect(await first.next('kicked')).to.include({ code: 'SESSION_REPLACED' });
      expect(await first.next('bye')).to.include({ code: 'SESSION_REPLACED' });
      await first.closed;
    });

    it('kick() closes every connection of a user with KICKED', async () => {
      const { user, server } = await startServer();
      const ada = await user('ada');
      expect(server.kick('ada', 'bye now')).to.equal(1);
      expect(await ada.next('kicked')).to.include({ code: 'KICKED', reason: 'bye now' });
      await ada.closed;
      expect(server.isOnline('ada')).to.equal(false);
    });
  });

  describe('#close', () => {
    it('sends bye SHUTDOWN, closes the rooms so listeners flush, then resolves', async () => {
      const seen: string[] = [];
      let completed = false;
      const { user, server } = await startServer({
        onRoomCreated: (hub) => {
          hub.attachListener({
            next: async (event) => {
              await delay(1);
              seen.push(event.type);
            },
            complete: () => {
              completed = true;
            },
          });
        },
      });
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'x' });
      await ada.next('ok');
      await server.close();
      expect(await ada.next('bye')).to.include({ code: 'SHUTDOWN' });
      expect(completed).to.equal(true);
      expect(seen).to.deep.equal(['join', 'leave', 'close']);
      expect(server.status).to.equal('closed');
      await ada.closed;
    });

    it('refuses new connections once closed', async () => {
      const { server, wsUrl } = await startServer();
      await server.close();
      let failed = false;
      await TestClient.ws(wsUrl).catch(() => {
        failed = true;
      });
      expect(failed).to.equal(true);
    });
  });

  describe('#metrics', () => {
    it('counts connections, rooms, frames and bytes', async () => {
      const { user, server } = await startServer();
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'x' });
      await ada.next('event');
      const metrics = server.metrics();
      expect(metrics).to.include({ connections: 1, authenticated: 1, rooms: 1, framesIn: 2 });
      expect(metrics.framesOut).to.be.at.least(3);
      expect(metrics.bytesIn).to.be.greaterThan(20);
      expect(metrics.bytesOut).to.be.greaterThan(metrics.bytesIn);
    });
  });

  describe('rooms closing', () => {
    it('holds a join that arrives while its room is closing until the close is out, so ids go on after it', async () => {
      const lastIds = new Map<string, number>();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let created = 0;
      const running = await startServer({
        seedRoom: (room) => (lastIds.has(room) ? { lastEventId: lastIds.get(room) as number } : undefined),
        onRoomCreated: (hub, room) => {
          // The first incarnation's listener is slow, like a log waiting on a disk.
          const slow = created++ === 0;
          hub.attachListener(async (event) => {
            if (slow) await gate;
            lastIds.set(room, event.id);
          });
        },
      });
      const ada = await running.user('ada');
      ada.send({ type: 'join', ref: 1, room: 'r' });
      await ada.next('ok');
      ada.send({ type: 'publish', ref: 2, room: 'r', data: 'hi' });
      await ada.waitFor((f) => f.type === 'ok' && f.ref === 2);
      const closing = running.server.rooms.close('r'); // the room's close (id 3) waits on the listener
      const bob = await running.user('bob');
      const before = running.server.metrics().framesIn;
      bob.send({ type: 'join', ref: 1, room: 'r' });
      for (let i = 0; i < 500 && running.server.metrics().framesIn === before; i++) await delay(2);
      expect(running.server.metrics().framesIn).to.equal(before + 1);
      release();
      await closing;
      await bob.next('ok');
      const first = await bob.next('event');
      expect(first.event).to.deep.include({ id: 4, type: 'join', userId: 'bob' });
    });

    it('answers CLOSED to a join of a room whose hub the application closed itself, until that close is complete', async () => {
      let hub: MessageHub<unknown> | undefined;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const running = await startServer({
        onRoomCreated: (created) => {
          hub ??= created;
          created.attachListener({ next: () => {}, complete: () => gate }); // the first room's close waits on it
        },
      });
      const ada = await running.user('ada');
      ada.send({ type: 'join', ref: 1, room: 'r' });
      await ada.next('ok');
      const closing = (hub as MessageHub<unknown>).close(); // not through server.rooms
      const bob = await running.user('bob');
      bob.send({ type: 'join', ref: 1, room: 'r' });
      expect(await bob.waitFor((f) => f.ref === 1)).to.include({ type: 'error', code: 'CLOSED', frame: 'join' });
      release();
      await closing;
      bob.send({ type: 'join', ref: 2, room: 'r' });
      expect(await bob.waitFor((f) => f.ref === 2)).to.include({ type: 'ok', room: 'r' });
    });
  });

  describe('#attach and assets', () => {
    let http: Server | undefined;
    afterEach(async () => {
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      http = undefined;
    });

    it('serves assets with their content type on the WebSocket port', async () => {
      const { wsUrl } = await startServer({
        assets: { '/msghub.js': Buffer.from('export {};'), '/page': { body: '<p>hi</p>', contentType: 'text/html' } },
      });
      const base = wsUrl.replace('ws:', 'http:');
      const js = await fetch(`${base}msghub.js`);
      expect(js.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
      expect(await js.text()).to.equal('export {};');
      expect((await fetch(`${base}page`)).headers.get('content-type')).to.equal('text/html');
      expect((await fetch(`${base}missing`)).status).to.equal(404);
    });

    it('serves a file at a URL without an extension with the file\'s content type', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'msghub-assets-'));
      const page = join(dir, 'index.html');
      await writeFile(page, '<h1>lobby</h1>');
      try {
        const { wsUrl } = await startServer({ assets: { '/': page } });
        const response = await fetch(wsUrl.replace('ws:', 'http:'));
        expect(response.headers.get('content-type')).to.equal('text/html; charset=utf-8');
        expect(await response.text()).to.equal('<h1>lobby</h1>');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('accepts WebSocket upgrades on an existing http.Server at a path', async () => {
      const server = new HubServer({ trustClientUser: true, assets: { '/a.json': { body: '{}' } } });
      http = createServer((req, res) => {
        if (!server.assetHandler(req, res)) res.writeHead(200).end('app');
      });
      await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
      await server.attach(http, { path: '/hub' });
      const port = (http.address() as AddressInfo).port;
      const client = await TestClient.ws(`ws://127.0.0.1:${port}/hub`);
      expect(await client.hello({ user: 'ada' })).to.include({ userId: 'ada' });
      expect(await (await fetch(`http://127.0.0.1:${port}/a.json`)).text()).to.equal('{}');
      client.close();
      await server.close();
    });
  });

  it('lists every code it can send in WIRE_ERROR_CODES', () => {
    expect(WIRE_ERROR_CODES).to.include.members(['SLOW_CONSUMER', 'OFFLINE_QUEUE_FULL', 'UNKNOWN_OP', 'RATE_LIMITED']);
  });
});
