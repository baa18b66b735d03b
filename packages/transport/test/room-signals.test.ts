import { expect } from 'chai';
import type { HubEvent } from '@msghub/messagehub';
import { MemoryAdapter, cleanup, delay, startServer, type Running, type TestClient } from './helpers.js';

/** `users` connected (in that order) and joined to room `r`, each having seen the last one's join. */
async function members(running: Running, users: readonly string[], carrier: 'ws' | 'tcp' = 'ws'): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (const user of users) {
    const client = await running.user(user, carrier);
    client.send({ type: 'join', ref: 'j', room: 'r' });
    await client.next('ok');
    clients.push(client);
  }
  const last = users.at(-1);
  for (const client of clients) {
    await client.waitFor((f) => f.type === 'event' && (f['event'] as HubEvent).type !== 'message' && (f['event'] as { userId?: string }).userId === last);
  }
  return clients;
}

function signals(client: TestClient): Record<string, unknown>[] {
  return client.frames.filter((f) => f.type === 'signal');
}

describe('signals', () => {
  afterEach(cleanup);

  for (const carrier of ['ws', 'tcp'] as const) {
    it(`reaches every other connection in the room over ${carrier}, the sender's other connections included, and answers its ref with ok`, async () => {
      const running = await startServer();
      const [ada, adaTab, bob] = await members(running, ['ada', 'ada', 'bob'], carrier) as [TestClient, TestClient, TestClient];
      const outsider = await running.user('eve', carrier);
      ada.send({ type: 'signal', ref: 7, room: 'r', data: { typing: true } });
      expect(await ada.next('ok')).to.deep.equal({ type: 'ok', ref: 7, room: 'r' });
      for (const other of [adaTab, bob]) {
        expect(await other.next('signal')).to.deep.equal({ type: 'signal', room: 'r', from: 'ada', data: { typing: true } });
      }
      // A ping answered after the signal shows nothing else was on its way to the sender or the outsider.
      for (const client of [ada, outsider]) {
        client.send({ type: 'ping', ts: 1 });
        await client.next('pong');
        expect(signals(client)).to.deep.equal([]);
      }
    });
  }

  it('takes no event id, reaches no listener or history, and is not replayed to a member resuming from before it', async () => {
    const running = await startServer();
    const seen: HubEvent<unknown>[] = [];
    running.server.rooms.create('r').attachListener((event) => void seen.push(event));
    const [ada, bob] = await members(running, ['ada', 'bob']) as [TestClient, TestClient];
    ada.send({ type: 'publish', ref: 1, room: 'r', data: 'before' });
    const { id: before } = await ada.next('ok');
    ada.send({ type: 'signal', room: 'r', data: 'typing' });
    await bob.next('signal');
    ada.send({ type: 'publish', ref: 2, room: 'r', data: 'after' });
    expect((await ada.next('ok'))['id']).to.equal((before as number) + 1);

    const hub = running.server.rooms.get('r')!;
    expect(JSON.stringify(await hub.getHistory())).not.to.include('typing');
    expect(JSON.stringify(seen)).not.to.include('typing');
    const late = await running.user('carol');
    late.send({ type: 'join', ref: 1, room: 'r', since: 0 });
    await late.waitFor((f) => f.type === 'event' && (f['event'] as { userId?: string }).userId === 'carol');
    expect(signals(late)).to.deep.equal([]);
  });

  it('refuses a signal to a room the connection has not joined with NOT_JOINED, and one without data with INVALID_FIELD', async () => {
    const running = await startServer();
    const [, bob] = await members(running, ['ada', 'bob']) as [TestClient, TestClient];
    const eve = await running.user('eve');
    eve.send({ type: 'signal', ref: 1, room: 'r', data: 'typing' });
    expect(await eve.next('error')).to.include({ code: 'NOT_JOINED', ref: 1, frame: 'signal' });
    eve.send({ type: 'signal', ref: 2, room: 'r' });
    expect(await eve.next('error')).to.include({ code: 'INVALID_FIELD', ref: 2, frame: 'signal' });
    bob.send({ type: 'ping', ts: 1 });
    await bob.next('pong');
    expect(signals(bob)).to.deep.equal([]);
  });

  it('no longer reaches a member that left the room', async () => {
    const running = await startServer();
    const [ada, bob] = await members(running, ['ada', 'bob']) as [TestClient, TestClient];
    bob.send({ type: 'leave', ref: 'l', room: 'r' });
    await bob.next('ok');
    ada.send({ type: 'signal', ref: 1, room: 'r', data: 'typing' });
    await ada.next('ok');
    bob.send({ type: 'ping', ts: 1 });
    await bob.next('pong');
    expect(signals(bob)).to.deep.equal([]);
  });

  it('counts against the rate limit like any other frame', async () => {
    const running = await startServer({ rateLimit: { frames: 4, intervalMs: 60_000 } });
    const [ada] = await members(running, ['ada']) as [TestClient];
    // hello and join were the first two frames of the window.
    ada.send({ type: 'signal', ref: 1, room: 'r', data: 1 });
    ada.send({ type: 'signal', ref: 2, room: 'r', data: 2 });
    ada.send({ type: 'signal', ref: 3, room: 'r', data: 3 });
    expect(await ada.next('ok')).to.include({ ref: 1 });
    expect(await ada.next('ok')).to.include({ ref: 2 });
    expect(await ada.next('error')).to.include({ code: 'RATE_LIMITED', ref: 3, frame: 'signal' });
  });

  it('skips a member whose socket is still draining instead of queuing behind it', async () => {
    const running = await startServer();
    const adapter = new MemoryAdapter();
    await running.server.addAdapter(adapter);
    const slow = adapter.connect();
    slow.send({ type: 'hello', v: 1, user: 'slow' });
    slow.send({ type: 'join', ref: 1, room: 'r' });
    const [ada] = await members(running, ['ada']) as [TestClient];
    const count = (): number => slow.frames().filter((f) => f['type'] === 'signal').length;
    ada.send({ type: 'signal', ref: 1, room: 'r', data: 'first' });
    await ada.next('ok');
    for (const deadline = Date.now() + 2000; count() === 0 && Date.now() < deadline; ) await delay(2);
    expect(count()).to.equal(1);
    slow.needsDrain = true;
    ada.send({ type: 'signal', ref: 2, room: 'r', data: 'second' });
    await ada.next('ok');
    slow.drain();
    ada.send({ type: 'publish', ref: 3, room: 'r', data: 'after' });
    await ada.next('ok');
    for (const deadline = Date.now() + 2000; !JSON.stringify(slow.frames()).includes('after') && Date.now() < deadline; ) await delay(2);
    expect(slow.frames().filter((f) => f['type'] === 'signal').map((f) => f['data'])).to.deep.equal(['first']);
    expect(JSON.stringify(slow.frames())).to.include('after');
  });
});
