import { expect } from 'chai';
import { HubServer, MemoryOfflineQueue, type OfflineQueue } from '../src/index.js';
import { cleanup, startServer, type TestClient } from './helpers.js';

type Frame = Awaited<ReturnType<TestClient['next']>>;

/** The `direct` frames `client` has been sent so far. */
function directs(client: TestClient): Frame[] {
  return client.frames.filter((frame) => frame.type === 'direct');
}

/** Waits until `client` has been sent `count` directs, then until a ping came back (nothing else is on its way). */
async function settled(client: TestClient, count: number, ts = Math.random()): Promise<Frame[]> {
  for (let i = directs(client).length; i < count; i++) await client.next('direct');
  client.send({ type: 'ping', ts });
  await client.waitFor((frame) => frame.type === 'pong' && frame['ts'] === ts);
  return directs(client);
}

/** A promise and its resolve function. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('direct messages with acknowledgements', () => {
  afterEach(cleanup);

  it('sends a direct queued for an offline user again on each connection until it is acknowledged, then never again', async () => {
    const { user } = await startServer();
    const ada = await user('ada');
    ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'first' });
    ada.send({ type: 'direct', ref: 2, to: 'bob', data: 'second' });
    await ada.waitFor((frame) => frame.type === 'ok' && frame['ref'] === 2);
    const bob1 = await user('bob');
    const sent = await settled(bob1, 2);
    expect(sent.map((frame) => frame['data'])).to.deep.equal(['first', 'second']);
    const [first, second] = sent.map((frame) => frame['id'] as string);
    bob1.close();
    await bob1.closed;
    const bob2 = await user('bob', 'tcp');
    expect(await settled(bob2, 2)).to.deep.equal(sent);
    bob2.send({ type: 'ack', ref: 'a', direct: [first] });
    expect(await bob2.next('ok')).to.deep.equal({ type: 'ok', ref: 'a' });
    bob2.close();
    const bob3 = await user('bob');
    expect((await settled(bob3, 1)).map((frame) => frame['id'])).to.deep.equal([second]);
    bob3.send({ type: 'ack', ref: 'b', direct: [second as string] });
    await bob3.next('ok');
    const bob4 = await user('bob');
    expect(await settled(bob4, 0)).to.deep.equal([]);
  });

  it('sends a live direct again on the next connection when the socket went away before the ack', async () => {
    const { user } = await startServer();
    const ada = await user('ada');
    const bob1 = await user('bob', 'tcp');
    ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'live' });
    const live = await bob1.next('direct');
    expect(live).to.include({ from: 'ada', data: 'live' });
    bob1.close();
    await bob1.closed;
    const bob2 = await user('bob');
    expect(await settled(bob2, 1)).to.deep.equal([live]);
  });

  it('removes nothing for an ack of another user, of an unknown id, or of an id acknowledged already', async () => {
    const { user } = await startServer();
    const ada = await user('ada');
    ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'mine' });
    await ada.next('ok');
    const bob1 = await user('bob');
    const [message] = await settled(bob1, 1);
    const id = message?.['id'] as string;
    const eve = await user('eve');
    eve.send({ type: 'ack', ref: 'e', direct: [id] });
    expect(await eve.next('ok')).to.include({ ref: 'e' });
    bob1.send({ type: 'ack', ref: 'x', direct: ['no-such-id'] });
    expect(await bob1.next('ok')).to.include({ ref: 'x' });
    const bob2 = await user('bob');
    expect(await settled(bob2, 1)).to.deep.equal([message]);
    bob2.send({ type: 'ack', ref: 1, direct: [id] });
    await bob2.next('ok');
    bob1.send({ type: 'ack', ref: 2, direct: [id] });
    expect(await bob1.next('ok')).to.include({ ref: 2 });
    expect(await settled(await user('bob'), 0)).to.deep.equal([]);
  });

  it('gives every direct its own random id of 22 base64url characters, kept when it is sent again', async () => {
    const { user } = await startServer();
    const ada = await user('ada');
    for (let i = 0; i < 50; i++) ada.send({ type: 'direct', ref: i, to: 'bob', data: i });
    await ada.waitFor((frame) => frame.type === 'ok' && frame['ref'] === 49);
    const ids = (await settled(await user('bob'), 50)).map((frame) => frame['id'] as string);
    expect(new Set(ids).size).to.equal(50);
    for (const id of ids) expect(id).to.match(/^[A-Za-z0-9_-]{22}$/);
    expect((await settled(await user('bob'), 50)).map((frame) => frame['id'])).to.deep.equal(ids);
  });

  it('never delivers a direct past its ttlMs, while one without goes on waiting', async () => {
    let now = 1_000_000;
    const { user } = await startServer({ offlineQueue: new MemoryOfflineQueue({ clock: () => now }) });
    const ada = await user('ada');
    ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'brief', ttlMs: 50 });
    ada.send({ type: 'direct', ref: 2, to: 'bob', data: 'lasting' });
    await ada.waitFor((frame) => frame.type === 'ok' && frame['ref'] === 2);
    const early = await user('bob');
    expect((await settled(early, 2)).map((frame) => frame['data'])).to.deep.equal(['brief', 'lasting']);
    early.close();
    now += 50;
    const late = await user('bob');
    expect((await settled(late, 1)).map((frame) => frame['data'])).to.deep.equal(['lasting']);
  });

  it('answers OFFLINE_QUEUE_FULL once a user has maxPerUser unacknowledged directs, online or not, and takes more after an ack', async () => {
    const { user } = await startServer({ offlineQueue: new MemoryOfflineQueue({ maxPerUser: 2 }) });
    const ada = await user('ada');
    const bob = await user('bob');
    ada.send({ type: 'direct', ref: 1, to: 'bob', data: 1 });
    ada.send({ type: 'direct', ref: 2, to: 'bob', data: 2 });
    ada.send({ type: 'direct', ref: 3, to: 'bob', data: 3 });
    expect(await ada.next('error')).to.include({ code: 'OFFLINE_QUEUE_FULL', ref: 3, frame: 'direct' });
    const [first] = await settled(bob, 2);
    bob.send({ type: 'ack', ref: 'a', direct: [first?.['id']] });
    await bob.next('ok');
    ada.send({ type: 'direct', ref: 4, to: 'bob', data: 4 });
    expect(await ada.waitFor((frame) => frame['ref'] === 4)).to.include({ type: 'ok' });
    expect((await settled(bob, 3)).map((frame) => frame['data'])).to.deep.equal([1, 2, 4]);
  });

  describe('with an asynchronous queue', () => {
    /** A memory queue whose push and pending wait for the gates the test opens. */
    function slowQueue(): { queue: OfflineQueue; pushed: ReturnType<typeof gate>; read: ReturnType<typeof gate> } {
      const inner = new MemoryOfflineQueue();
      const pushed = gate();
      const read = gate();
      const queue: OfflineQueue = {
        push: async (userId, message, ttlMs) => {
          await pushed.opened;
          return inner.push(userId, message, ttlMs);
        },
        pending: async (userId) => {
          await read.opened;
          return inner.pending(userId);
        },
        ack: async (userId, ids) => inner.ack(userId, ids),
      };
      return { queue, pushed, read };
    }

    it('answers the sender ok, and sends the message, only once the queue has stored it', async () => {
      const { queue, pushed, read } = slowQueue();
      read.open();
      const { user } = await startServer({ offlineQueue: queue });
      const ada = await user('ada');
      const bob = await user('bob');
      ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'held' });
      ada.send({ type: 'ping', ts: 1 });
      await ada.next('pong');
      await settled(bob, 0);
      expect(ada.frames.some((frame) => frame.type === 'ok')).to.equal(false);
      expect(directs(bob)).to.deep.equal([]);
      pushed.open();
      expect(await ada.next('ok')).to.include({ ref: 1 });
      expect(await bob.next('direct')).to.include({ data: 'held' });
    });

    it('sends a new connection its pending directs before one that arrived while they were read, each once', async () => {
      const { queue, pushed, read } = slowQueue();
      pushed.open();
      const { user } = await startServer({ offlineQueue: queue });
      const ada = await user('ada');
      ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'old' });
      await ada.next('ok');
      const bob = await user('bob');
      ada.send({ type: 'direct', ref: 2, to: 'bob', data: 'new' });
      await ada.next('ok');
      await settled(bob, 0);
      expect(directs(bob)).to.deep.equal([]);
      read.open();
      expect((await settled(bob, 2)).map((frame) => frame['data'])).to.deep.equal(['old', 'new']);
    });

    it('answers a failing push or ack with INTERNAL and reports the cause to onError', async () => {
      const errors: unknown[] = [];
      const failure = new Error('disk gone');
      const queue: OfflineQueue = {
        push: () => Promise.reject(failure),
        pending: () => [],
        ack: () => {
          throw failure;
        },
      };
      const { user } = await startServer({ offlineQueue: queue, onError: (error) => errors.push(error) });
      const ada = await user('ada');
      ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'x' });
      expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 1, frame: 'direct' });
      ada.send({ type: 'ack', ref: 2, direct: ['x'] });
      expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 2, frame: 'ack' });
      expect(errors).to.deep.equal([failure, failure]);
    });
  });

  it('refuses an offlineQueue option without push, pending and ack (a queue from before acknowledgements) with a TypeError', () => {
    const legacy = { push: () => true, take: () => [] };
    expect(() => new HubServer({ offlineQueue: legacy as unknown as OfflineQueue })).to.throw(TypeError);
    expect(() => new HubServer({ offlineQueue: true as unknown as false })).to.throw(TypeError);
  });

  it('without a queue, sends a direct to the open connections once, refuses one to an offline user, and answers acks', async () => {
    const { user } = await startServer({ offlineQueue: false });
    const ada = await user('ada');
    const bob1 = await user('bob');
    ada.send({ type: 'direct', ref: 1, to: 'bob', data: 'once' });
    await ada.next('ok');
    const [message] = await settled(bob1, 1);
    bob1.close();
    expect(await settled(await user('bob'), 0)).to.deep.equal([]);
    ada.send({ type: 'direct', ref: 2, to: 'carol', data: 'nobody' });
    expect(await ada.next('error')).to.include({ code: 'NOT_FOUND', ref: 2 });
    ada.send({ type: 'ack', ref: 3, direct: [message?.['id']] });
    expect(await ada.next('ok')).to.include({ ref: 3 });
  });
});
