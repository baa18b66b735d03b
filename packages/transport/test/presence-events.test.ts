import { expect } from 'chai';
import { InvalidOptionError, MemoryStore, MessageHub, type RoomStore } from '@msghub/messagehub';
import { HubServer, RoomRegistry } from '../src/index.js';
import { cleanup, delay, startServer, type Carrier, type TestClient } from './helpers.js';

interface WireEvent {
  readonly id: number;
  readonly type: string;
  readonly userId?: string;
  readonly message?: unknown;
}

/** The events the client has been sent in `room`, in the order it got them. */
function eventsOf(client: TestClient, room: string): WireEvent[] {
  return client.frames.flatMap((f) => (f.type === 'event' && f['room'] === room ? [f['event'] as WireEvent] : []));
}

/** Waits (bounded) until the client has been sent event `id` of `room`, whatever it read before. */
async function sawEvent(client: TestClient, room: string, id: number, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !eventsOf(client, room).some((e) => e.id === id); ) {
    if (Date.now() > deadline) throw new Error(`No event ${id} of ${room}; got ${JSON.stringify(client.frames.slice(-5))}`);
    await delay(5);
  }
}

async function ask(client: TestClient, op: string, data: unknown, ref: string): Promise<unknown> {
  client.send({ type: 'request', ref, op, data });
  const answer = await client.waitFor((f) => f['ref'] === ref && (f.type === 'response' || f.type === 'error'));
  if (answer.type === 'error') throw new Error(`${op}: ${String(answer['code'])}`);
  return answer['data'];
}

describe('rooms with presenceEvents', () => {
  afterEach(cleanup);

  for (const carrier of ['ws', 'tcp', 'http'] as const satisfies readonly Carrier[]) {
    it(`over ${carrier}: members see no join/leave, ids stay contiguous, presence lists every member, a resume replays without a gap`, async () => {
      const { server, user } = await startServer();
      server.rooms.create('stadium', { presenceEvents: 'none' });
      const members: TestClient[] = [];
      for (let i = 0; i < 20; i++) {
        const fan = await user(`fan${i}`, i % 2 === 0 ? carrier : 'ws');
        fan.send({ type: 'join', ref: 'j', room: 'stadium' });
        expect(await fan.next('ok')).to.include({ ref: 'j', room: 'stadium', lastEventId: 0 });
        members.push(fan);
      }
      const [first, second] = members as [TestClient, TestClient];
      expect(await ask(second, 'presence', { room: 'stadium' }, 'p1')).to.have.length(20);
      expect(await ask(second, 'online', { user: 'fan7' }, 'o1')).to.equal(true);

      for (let i = 0; i < 5; i++) {
        first.send({ type: 'publish', ref: `m${i}`, room: 'stadium', data: `goal ${i}` });
        expect(await first.next('ok')).to.include({ ref: `m${i}`, id: i + 1 });
      }
      // fan1 drops its connection after message 5: nobody hears of it, and presence shrinks.
      await sawEvent(second, 'stadium', 5);
      second.close();
      await second.closed;
      for (let i = 5; i < 10; i++) {
        first.send({ type: 'publish', ref: `m${i}`, room: 'stadium', data: `goal ${i}` });
        expect(await first.next('ok')).to.include({ ref: `m${i}`, id: i + 1 });
      }
      const present = (await ask(first, 'presence', { room: 'stadium' }, 'p2')) as { userId: string }[];
      expect(present.map((entry) => entry.userId)).to.not.include('fan1');
      expect(present).to.have.length(19);

      // It comes back and resumes after the last id it saw: 6..10, no gap, no announcement.
      const epoch = server.rooms.get('stadium')?.epoch;
      const again = await user('fan1', carrier);
      again.send({ type: 'join', ref: 'r', room: 'stadium', since: 5, epoch });
      expect(await again.next('ok')).to.include({ lastEventId: 10, epoch });
      await sawEvent(again, 'stadium', 10);
      expect(again.frames.some((f) => f.type === 'gap')).to.equal(false);
      expect(eventsOf(again, 'stadium').map((e) => `${e.id}:${e.type}`)).to.deep.equal(['6:message', '7:message', '8:message', '9:message', '10:message']);
      expect(await ask(again, 'presence', { room: 'stadium' }, 'p3')).to.have.length(20);

      first.send({ type: 'publish', ref: 'last', room: 'stadium', data: 'full time' });
      expect(await first.next('ok')).to.include({ ref: 'last', id: 11 });
      for (const member of [...members.filter((m) => m !== second), again]) {
        await sawEvent(member, 'stadium', 11);
      }
      // Every member saw only messages, with no hole and no repeat.
      for (const member of members.slice(2)) {
        expect(eventsOf(member, 'stadium').map((e) => e.id)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        expect(eventsOf(member, 'stadium').every((e) => e.type === 'message')).to.equal(true);
      }
      expect(eventsOf(second, 'stadium').map((e) => e.id)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(members.concat(again).some((m) => m.frames.some((f) => f.type === 'gap'))).to.equal(false);
      // A leave is quiet too: the member's own leave is answered, nobody else hears of it.
      again.send({ type: 'leave', ref: 'l', room: 'stadium' });
      expect(await again.next('ok')).to.include({ ref: 'l' });
      expect(((await ask(first, 'presence', { room: 'stadium' }, 'p4')) as unknown[]).length).to.equal(19);
      expect(server.rooms.get('stadium')?.lastEventId).to.equal(11);
    });
  }

  it('leaves the default room as it was: join and leave are events with ids', async () => {
    const { server, user } = await startServer();
    const ada = await user('ada');
    ada.send({ type: 'join', ref: 1, room: 'lobby' });
    await ada.next('ok');
    const bob = await user('bob');
    bob.send({ type: 'join', ref: 1, room: 'lobby' });
    await bob.next('ok');
    bob.send({ type: 'leave', ref: 2, room: 'lobby' });
    await bob.next('ok');
    ada.send({ type: 'publish', ref: 3, room: 'lobby', data: 'hi' });
    expect(await ada.next('ok')).to.include({ id: 4 });
    await sawEvent(ada, 'lobby', 4);
    expect(eventsOf(ada, 'lobby').map((e) => `${e.id}:${e.type}:${e.userId}`)).to.deep.equal(['1:join:ada', '2:join:bob', '3:leave:bob', '4:message:ada']);
    expect(server.rooms.presenceEvents('lobby')).to.equal('all');
    expect(server.rooms.get('lobby')?.presenceEvents).to.equal('all');
  });

  it('takes the server-wide default, a function of the room name, and keeps a room’s own value after it closes', async () => {
    const { server, user } = await startServer({ presenceEvents: (room) => (room.startsWith('big:') ? 'none' : 'all'), roomIdleTimeoutMs: 0 });
    const ada = await user('ada');
    for (const room of ['big:final', 'small']) {
      ada.send({ type: 'join', ref: room, room });
      await ada.next('ok');
    }
    ada.send({ type: 'publish', ref: 'p', room: 'big:final', data: 'x' });
    expect(await ada.next('ok')).to.include({ id: 1 });
    await sawEvent(ada, 'small', 1);
    expect(eventsOf(ada, 'small').map((e) => e.type)).to.deep.equal(['join']);
    expect(eventsOf(ada, 'big:final').map((e) => `${e.id}:${e.type}`)).to.deep.equal(['1:message']);
    expect(server.rooms.presenceEvents('big:final')).to.equal('none');

    server.rooms.create('quiet', { presenceEvents: 'none' });
    await server.rooms.close('quiet');
    expect(server.rooms.presenceEvents('quiet')).to.equal('none');
    expect(server.rooms.open('quiet')?.presenceEvents).to.equal('none');
  });

  it('refuses a bad value with INVALID_OPTION, and a different value for an open room', async () => {
    const { server } = await startServer();
    expect(() => server.rooms.create('a', { presenceEvents: 'some' as 'none' })).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
    expect(server.rooms.get('a')).to.equal(undefined);
    expect(() => new HubServer({ presenceEvents: false as unknown as 'none' })).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
    expect(() => new HubServer({ hubOptions: { presenceEvents: 'quiet' as 'none' } })).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
    server.rooms.create('b', { presenceEvents: 'none' });
    expect(server.rooms.create('b', { presenceEvents: 'none' }).presenceEvents).to.equal('none');
    expect(server.rooms.create('b').presenceEvents).to.equal('none');
    expect(() => server.rooms.create('b', { presenceEvents: 'all' })).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
  });

  it("refuses 'none' with a store that sequences rooms, and a function that answers nonsense counts as 'all'", async () => {
    // The shape of the cluster's store; no room is ever opened in it here.
    const memory = new MemoryStore();
    const store: RoomStore = {
      encodes: true,
      sequences: true,
      open: (room, options) => memory.open(room, options),
      append: () => Promise.resolve([]),
      read: (room, since, limit) => memory.read(room, since, limit),
      release: () => undefined,
      follow: () => () => undefined,
    };
    expect(() => new RoomRegistry({ store, presenceEvents: 'none' })).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
    const sequenced = new RoomRegistry({ store });
    expect(() => sequenced.create('r', { presenceEvents: 'none' })).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
    expect(sequenced.get('r')).to.equal(undefined);

    const errors: unknown[] = [];
    const registry = new RoomRegistry({ store: new MemoryStore(), presenceEvents: () => 'loud' as 'none', onError: (e) => errors.push(e) });
    const hub: MessageHub<unknown> = registry.create('r');
    expect(hub.presenceEvents).to.equal('all');
    expect(errors).to.have.length(1);
    expect(errors[0]).to.be.instanceOf(InvalidOptionError);
    await registry.closeAll();
  });
});
