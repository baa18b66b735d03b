import { expect } from 'chai';
import { HubServer, InvalidUserIdError, NotFoundWireError, RoomExistsError, RoomRegistry, TokenStore } from '../src/index.js';
import { roomsProblem } from '@msghub/protocol/token-grant';
import { roomAllowed } from '../src/room-access.js';
import { cleanup, delay, startServer, TestClient } from './helpers.js';

// Room-bound connect tokens, rooms that admit one session per user, rooms.create's ifExists and
// server.sendTo, over real sockets with raw frames.

describe('room access', () => {
  afterEach(cleanup);

  describe('roomAllowed', () => {
    it('allows every room without a binding, exact names and prefix patterns with one', () => {
      expect(roomAllowed(undefined, 'x')).to.equal(true);
      expect(roomAllowed(['lobby'], 'lobby')).to.equal(true);
      expect(roomAllowed(['lobby'], 'lobby2')).to.equal(false);
      expect(roomAllowed(['lobby'], 'lobb')).to.equal(false);
      expect(roomAllowed(['game:*'], 'game:1')).to.equal(true);
      expect(roomAllowed(['game:*'], 'game:')).to.equal(true);
      expect(roomAllowed(['game:*'], 'game')).to.equal(false);
      expect(roomAllowed(['*'], 'anything')).to.equal(true);
      expect(roomAllowed([], 'lobby')).to.equal(false);
    });

    it('tells what is wrong with a binding', () => {
      expect(roomsProblem(['a', 'b*'])).to.equal(undefined);
      expect(roomsProblem([])).to.equal(undefined);
      expect(roomsProblem('lobby')).to.match(/array/);
      expect(roomsProblem(null)).to.match(/array/);
      expect(roomsProblem([''])).to.match(/rooms\[0\]/);
      expect(roomsProblem(['ok', 7])).to.match(/rooms\[1\]/);
      expect(roomsProblem(['x'.repeat(257)])).to.match(/rooms\[0\]/);
      expect(roomsProblem(Array.from({ length: 257 }, (_, i) => `r${i}`))).to.match(/at most 256/);
    });
  });

  describe('TokenStore#issue', () => {
    it('binds a token to rooms and keeps meta under `meta`', () => {
      const tokens = new TokenStore();
      const token = tokens.issue('ada', { rooms: ['lobby', 'game:*'], meta: { plan: 'pro' } });
      expect(tokens.consume(token)).to.deep.equal({ userId: 'ada', meta: { plan: 'pro' }, rooms: ['lobby', 'game:*'] });
      expect(tokens.consume(tokens.issue('bob'))).to.deep.equal({ userId: 'bob' });
    });

    it('keeps its own copy of the rooms given', () => {
      const tokens = new TokenStore();
      const rooms = ['lobby'];
      const token = tokens.issue('ada', { rooms });
      rooms.push('other');
      expect(tokens.consume(token)?.rooms).to.deep.equal(['lobby']);
    });

    it('refuses bad options with a TypeError and issues nothing', () => {
      const tokens = new TokenStore();
      const bad: unknown[] = [
        'lobby',
        null,
        [],
        { role: 'admin' },
        { rooms: 'lobby' },
        { rooms: [''] },
        { rooms: [1] },
        { rooms: Array.from({ length: 257 }, (_, i) => `r${i}`) },
        { meta: 'x' },
        { meta: [] },
      ];
      for (const options of bad) {
        expect(() => tokens.issue('ada', options as never), JSON.stringify(options)).to.throw(TypeError);
      }
      expect(tokens.size).to.equal(0);
      expect(() => tokens.issue('', { rooms: ['a'] })).to.throw(InvalidUserIdError);
    });
  });

  describe('room-bound tokens over the wire', () => {
    it('lets a bound connection join, publish and signal in its rooms and refuses every other with FORBIDDEN', async () => {
      const { server, ws } = await startServer({ trustClientUser: false });
      const ada = await ws();
      await ada.hello({ token: server.tokens.issue('ada', { rooms: ['lobby', 'game:*'] }) });

      ada.send({ type: 'join', ref: 1, room: 'lobby' });
      expect(await ada.next('ok')).to.include({ ref: 1, room: 'lobby' });
      ada.send({ type: 'join', ref: 2, room: 'game:7' });
      expect(await ada.next('ok')).to.include({ ref: 2, room: 'game:7' });

      ada.send({ type: 'join', ref: 3, room: 'secret' });
      const refused = await ada.next('error');
      expect(refused).to.include({ code: 'FORBIDDEN', ref: 3, frame: 'join' });
      expect(refused['message']).to.match(/token .* does not allow room secret/);
      expect(server.rooms.get('secret')).to.equal(undefined);

      ada.send({ type: 'publish', ref: 4, room: 'secret', data: 'x' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 4, frame: 'publish' });
      ada.send({ type: 'direct', ref: 5, room: 'secret', to: 'bob', data: 'x' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 5, frame: 'direct' });
      ada.send({ type: 'signal', ref: 6, room: 'secret', data: 'x' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 6, frame: 'signal' });
      ada.send({ type: 'request', ref: 7, op: 'history', data: { room: 'secret' } });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 7, frame: 'request' });

      // Inside its rooms everything goes on; outside a room it may use but has not joined: NOT_JOINED.
      ada.send({ type: 'publish', ref: 8, room: 'lobby', data: 'hi' });
      expect(await ada.next('ok')).to.include({ ref: 8 });
      ada.send({ type: 'publish', ref: 9, room: 'game:8', data: 'hi' });
      expect(await ada.next('error')).to.include({ code: 'NOT_JOINED', ref: 9 });
      ada.send({ type: 'request', ref: 10, op: 'history', data: { room: 'lobby' } });
      expect(await ada.next('response')).to.include({ ref: 10 });
      expect(server.connections()[0]?.rooms).to.deep.equal(['lobby', 'game:7']);
    });

    it('binds nothing for a token issued without rooms, and no room for rooms: []', async () => {
      const { server, ws } = await startServer({ trustClientUser: false });
      const free = await ws();
      await free.hello({ token: server.tokens.issue('ada') });
      free.send({ type: 'join', ref: 1, room: 'anything' });
      expect(await free.next('ok')).to.include({ ref: 1 });

      const none = await ws();
      await none.hello({ token: server.tokens.issue('bob', { rooms: [] }) });
      none.send({ type: 'join', ref: 1, room: 'anything' });
      expect(await none.next('error')).to.include({ code: 'FORBIDDEN', ref: 1 });
      none.send({ type: 'direct', ref: 2, to: 'ada', data: 'still possible' });
      expect(await none.next('ok')).to.include({ ref: 2 });
      expect((await free.next('direct'))['data']).to.equal('still possible');
    });

    it('takes the binding an authenticator returns, and fails authentication for a malformed one', async () => {
      const errors: unknown[] = [];
      const { ws } = await startServer({
        onError: (error) => errors.push(error),
        authenticate: ({ hello }) => (hello.user === 'bad' ? { userId: 'bad', rooms: 'lobby' as never } : { userId: hello.user ?? '', rooms: ['lobby'] }),
      });
      const ada = await ws();
      await ada.hello({ user: 'ada' });
      ada.send({ type: 'join', ref: 1, room: 'other' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN' });

      const bad = await ws();
      bad.send({ type: 'hello', v: 1, user: 'bad' });
      expect(await bad.next('error')).to.include({ code: 'AUTH_FAILED' });
      await bad.closed;
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(TypeError);
    });

    it('checks the binding before authorizeJoin, which never sees a forbidden room', async () => {
      const asked: string[] = [];
      const { server, ws } = await startServer({ trustClientUser: false, authorizeJoin: ({ room }) => (asked.push(room), true) });
      const ada = await ws();
      await ada.hello({ token: server.tokens.issue('ada', { rooms: ['lobby'] }) });
      ada.send({ type: 'join', ref: 1, room: 'other' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN' });
      ada.send({ type: 'join', ref: 2, room: 'lobby' });
      expect(await ada.next('ok')).to.include({ ref: 2 });
      expect(asked).to.deep.equal(['lobby']);
    });

    it('hands out bound tokens over POST /dev/token, and refuses a bad rooms field with 400', async () => {
      const server = new HubServer({ devTokens: true });
      const { ws } = await server.listen({ ws: { port: 0 } });
      try {
        const base = `http://127.0.0.1:${ws!.port}`;
        const post = (body: unknown) => fetch(`${base}/dev/token`, { method: 'POST', body: JSON.stringify(body) });
        for (const rooms of ['lobby', [''], [3], null]) {
          const response = await post({ user: 'ada', rooms });
          expect(response.status, JSON.stringify(rooms)).to.equal(400);
          expect(((await response.json()) as { error: string }).error).to.match(/rooms/);
        }
        const { token } = (await (await post({ user: 'ada', rooms: ['lobby'] })).json()) as { token: string };
        const client = await TestClient.ws(`ws://127.0.0.1:${ws!.port}/`);
        await client.hello({ token });
        client.send({ type: 'join', ref: 1, room: 'other' });
        expect(await client.next('error')).to.include({ code: 'FORBIDDEN' });
        const unbound = (await (await post({ user: 'bob' })).json()) as { token: string };
        const bob = await TestClient.ws(`ws://127.0.0.1:${ws!.port}/`);
        await bob.hello({ token: unbound.token });
        bob.send({ type: 'join', ref: 1, room: 'other' });
        expect(await bob.next('ok')).to.include({ ref: 1 });
      } finally {
        await server.close();
      }
    });
  });

  describe('uniqueUsers', () => {
    it('refuses a second session of the same user in a unique room with USER_IN_ROOM, on any carrier', async () => {
      const { server, user } = await startServer({ uniqueUsers: (room) => room.startsWith('duel:') });
      const first = await user('ada');
      const second = await user('ada', 'tcp');
      first.send({ type: 'join', ref: 1, room: 'duel:1' });
      expect(await first.next('ok')).to.include({ ref: 1 });
      second.send({ type: 'join', ref: 2, room: 'duel:1' });
      const refused = await second.next('error');
      expect(refused).to.include({ code: 'USER_IN_ROOM', ref: 2, frame: 'join' });
      // Other users, and the same user in rooms that are not unique, are not affected.
      const bob = await user('bob');
      bob.send({ type: 'join', ref: 3, room: 'duel:1' });
      expect(await bob.next('ok')).to.include({ ref: 3 });
      first.send({ type: 'join', ref: 4, room: 'lobby' });
      second.send({ type: 'join', ref: 5, room: 'lobby' });
      expect(await first.next('ok')).to.include({ ref: 4 });
      expect(await second.next('ok')).to.include({ ref: 5 });
      expect(await server.rooms.get('duel:1')!.presence()).to.deep.equal([
        { userId: 'ada', sessions: 1 },
        { userId: 'bob', sessions: 1 },
      ]);
    });

    it('admits the user again once the first session left or disconnected', async () => {
      const { server, user } = await startServer({ uniqueUsers: true });
      const first = await user('ada');
      first.send({ type: 'join', ref: 1, room: 'r' });
      await first.next('ok');
      const second = await user('ada');
      second.send({ type: 'join', ref: 2, room: 'r' });
      expect(await second.next('error')).to.include({ code: 'USER_IN_ROOM' });
      first.send({ type: 'leave', ref: 3, room: 'r' });
      await first.next('ok');
      second.send({ type: 'join', ref: 4, room: 'r' });
      expect(await second.next('ok')).to.include({ ref: 4 });
      const third = await user('ada');
      second.close();
      await second.closed;
      for (let attempt = 0; attempt < 100 && (await server.rooms.get('r')!.isOnline('ada')); attempt++) await delay(10);
      third.send({ type: 'join', ref: 5, room: 'r' });
      expect(await third.next('ok')).to.include({ ref: 5 });
    });

    it('lets exactly one of two connections of a user that join at once in', async () => {
      const { user } = await startServer({ uniqueUsers: true });
      const clients = await Promise.all([user('ada'), user('ada'), user('ada')]);
      clients.forEach((client, i) => client.send({ type: 'join', ref: i, room: 'race' }));
      const answers = await Promise.all(clients.map((client) => client.waitFor((f) => f.type === 'ok' || f.type === 'error')));
      expect(answers.filter((a) => a.type === 'ok')).to.have.length(1);
      expect(answers.filter((a) => a.type === 'error').map((a) => a['code'])).to.deep.equal(['USER_IN_ROOM', 'USER_IN_ROOM']);
    });

    it('takes a room\'s own uniqueUsers from rooms.create, also after the room closed and reopened', async () => {
      const { server, user } = await startServer({ roomIdleTimeoutMs: 0 });
      server.rooms.create('one-each', { uniqueUsers: true });
      const first = await user('ada');
      const second = await user('ada');
      first.send({ type: 'join', ref: 1, room: 'one-each' });
      await first.next('ok');
      second.send({ type: 'join', ref: 2, room: 'one-each' });
      expect(await second.next('error')).to.include({ code: 'USER_IN_ROOM' });
      first.send({ type: 'leave', ref: 3, room: 'one-each' });
      await first.next('ok');
      await server.rooms.close('one-each');
      expect(server.rooms.get('one-each')).to.equal(undefined);
      first.send({ type: 'join', ref: 4, room: 'one-each' });
      await first.next('ok');
      second.send({ type: 'join', ref: 5, room: 'one-each' });
      expect(await second.next('error')).to.include({ code: 'USER_IN_ROOM', ref: 5 });
      // A room may turn it off for itself while the server's default is on.
      expect(server.rooms.uniqueUsers('one-each')).to.equal(true);
      server.rooms.create('one-each', { uniqueUsers: false });
      second.send({ type: 'join', ref: 6, room: 'one-each' });
      expect(await second.next('ok')).to.include({ ref: 6 });
    });

    it('asks roomClaims when given, lets the claim go when the membership ends, and answers a failing claim with INTERNAL', async () => {
      const log: string[] = [];
      const errors: unknown[] = [];
      let failNext = true;
      const held = new Map<string, string>();
      const { user } = await startServer({
        uniqueUsers: true,
        onError: (error) => errors.push(error),
        roomClaims: {
          async claim(room, userId, sessionId) {
            log.push(`claim ${room} ${userId}`);
            if (failNext) {
              failNext = false;
              throw new Error('claims unreachable');
            }
            const key = `${room} ${userId}`;
            if (held.has(key) && held.get(key) !== sessionId) return false;
            held.set(key, sessionId);
            return true;
          },
          release(room, userId, sessionId) {
            log.push(`release ${room} ${userId}`);
            if (held.get(`${room} ${userId}`) === sessionId) held.delete(`${room} ${userId}`);
          },
        },
      });
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'r' });
      expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 1 });
      expect(errors).to.have.length(1);
      ada.send({ type: 'join', ref: 2, room: 'r' });
      expect(await ada.next('ok')).to.include({ ref: 2 });
      ada.send({ type: 'leave', ref: 3, room: 'r' });
      await ada.next('ok');
      ada.send({ type: 'join', ref: 4, room: 'r' });
      await ada.next('ok');
      ada.close();
      await ada.closed;
      for (let i = 0; i < 100 && held.size > 0; i++) await delay(5);
      expect(log).to.deep.equal(['claim r ada', 'claim r ada', 'release r ada', 'claim r ada', 'release r ada']);
      expect(held.size).to.equal(0);
    });

    it('refuses a bad uniqueUsers option with a TypeError, and counts a throwing predicate as unique', async () => {
      expect(() => new HubServer({ uniqueUsers: 'yes' as never })).to.throw(TypeError, /uniqueUsers/);
      expect(() => new HubServer({ roomClaims: { claim() {} } as never })).to.throw(TypeError, /roomClaims/);
      expect(() => new HubServer({ roomClaims: 'redis' as never })).to.throw(TypeError, /roomClaims/);
      expect(() => new RoomRegistry({ uniqueUsers: 1 as never })).to.throw(TypeError, /uniqueUsers/);
      const errors: unknown[] = [];
      const registry = new RoomRegistry({
        onError: (error) => errors.push(error),
        uniqueUsers: () => {
          throw new Error('broken');
        },
      });
      expect(registry.uniqueUsers('x')).to.equal(true);
      expect(errors).to.have.length(1);
    });
  });

  describe('RoomRegistry#create', () => {
    it('returns the open room by default and fails with ROOM_EXISTS for ifExists: fail', async () => {
      const registry = new RoomRegistry();
      const hub = registry.create('lobby');
      expect(registry.create('lobby')).to.equal(hub);
      expect(registry.create('lobby', { ifExists: 'return' })).to.equal(hub);
      expect(() => registry.create('lobby', { ifExists: 'fail' }))
        .to.throw(RoomExistsError)
        .with.property('code', 'ROOM_EXISTS');
      expect(registry.create('fresh', { ifExists: 'fail' })).to.not.equal(hub);
      await registry.close('lobby');
      expect(registry.create('lobby', { ifExists: 'fail' })).to.not.equal(hub);
      await registry.closeAll();
    });

    it('refuses bad options with a TypeError and opens nothing', () => {
      const registry = new RoomRegistry();
      for (const options of [null, 'fail', [], { ifExists: 'replace' }, { ifExists: true }, { uniqueUsers: 'yes' }]) {
        expect(() => registry.create('r', options as never), JSON.stringify(options)).to.throw(TypeError);
      }
      expect(registry.size).to.equal(0);
    });

    it('sends ROOM_EXISTS to a client whose request handler lets it through', async () => {
      const { server, user } = await startServer();
      server.handle('open', (input) => (server.rooms.create(String(input), { ifExists: 'fail' }), 'opened'));
      const ada = await user('ada');
      ada.send({ type: 'request', ref: 1, op: 'open', data: 'match' });
      expect(await ada.next('response')).to.include({ ref: 1, data: 'opened' });
      ada.send({ type: 'request', ref: 2, op: 'open', data: 'match' });
      expect(await ada.next('error')).to.include({ ref: 2, code: 'ROOM_EXISTS' });
    });
  });

  describe('HubServer#connections and #sendTo', () => {
    it('lists each connection with its user, carrier, remote address and rooms', async () => {
      const { server, user } = await startServer();
      const ada = await user('ada');
      await user('bob', 'tcp');
      ada.send({ type: 'join', ref: 1, room: 'a' });
      ada.send({ type: 'join', ref: 2, room: 'b' });
      await ada.next('ok');
      await ada.next('ok');
      const list = server.connections();
      expect(list.map(({ userId, carrier, remoteAddress, rooms }) => ({ userId, carrier, remoteAddress, rooms }))).to.deep.equal([
        { userId: 'ada', carrier: 'ws', remoteAddress: '127.0.0.1', rooms: ['a', 'b'] },
        { userId: 'bob', carrier: 'tcp', remoteAddress: '127.0.0.1', rooms: [] },
      ]);
      expect(list[0]!.id).to.match(/^[A-Za-z0-9_-]{22}$/);
    });

    it('delivers to exactly the one connection named, as a direct frame from the server', async () => {
      const { server, user } = await startServer();
      const one = await user('ada');
      const other = await user('ada');
      const welcome = one.frames.find((f) => f.type === 'welcome')!;
      const id = server.sendTo(welcome['connectionId'] as string, { text: 'only you' });
      const direct = await one.next('direct');
      expect(direct).to.deep.include({ id, from: '', data: { text: 'only you' } });
      expect(direct['ts']).to.be.a('number');
      server.sendTo(welcome['connectionId'] as string, 'second', { from: 'bot' });
      expect(await one.next('direct')).to.deep.include({ from: 'bot', data: 'second' });
      // The other connection of the same user gets nothing of it, and nothing is queued for later.
      other.send({ type: 'ping', ts: 1 });
      await other.next('pong');
      expect(other.frames.filter((f) => f.type === 'direct')).to.deep.equal([]);
      const later = await user('ada');
      later.send({ type: 'ping', ts: 2 });
      await later.next('pong');
      expect(later.frames.filter((f) => f.type === 'direct')).to.deep.equal([]);
      // Acknowledging it is harmless.
      one.send({ type: 'ack', ref: 9, direct: [id] });
      expect(await one.next('ok')).to.include({ ref: 9 });
    });

    it('fails with NOT_FOUND for a connection that closed or never was, and with a TypeError for bad input', async () => {
      const { server, user, ws } = await startServer();
      const ada = await user('ada');
      const connectionId = ada.frames.find((f) => f.type === 'welcome')!['connectionId'] as string;
      ada.close();
      await ada.closed;
      for (let i = 0; i < 100 && server.connections().length > 0; i++) await delay(5);
      expect(() => server.sendTo(connectionId, 'x')).to.throw(NotFoundWireError).with.property('code', 'NOT_FOUND');
      expect(() => server.sendTo('nope', 'x')).to.throw(NotFoundWireError);
      // Not authenticated yet: not listed.
      const anonymous = await ws();
      anonymous.send({ type: 'ping' });
      await anonymous.next('pong');
      expect(server.connections()).to.deep.equal([]);
      const bob = await user('bob');
      const bobId = bob.frames.find((f) => f.type === 'welcome')!['connectionId'] as string;
      expect(() => server.sendTo(42 as never, 'x')).to.throw(TypeError);
      expect(() => server.sendTo(bobId, 10n)).to.throw(TypeError, /JSON/);
      const cyclic: Record<string, unknown> = {};
      cyclic['self'] = cyclic;
      expect(() => server.sendTo(bobId, cyclic)).to.throw(TypeError, /JSON/);
      expect(() => server.sendTo(bobId, 'x', { from: 'x'.repeat(257) })).to.throw(TypeError, /from/);
      expect(() => server.sendTo(bobId, 'x', { from: 5 as never })).to.throw(TypeError, /from/);
      bob.send({ type: 'ping' });
      await bob.next('pong');
      expect(bob.frames.filter((f) => f.type === 'direct')).to.deep.equal([]);
    });
  });
});
