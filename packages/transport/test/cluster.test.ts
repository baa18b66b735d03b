/**
 * Several HubServers ("nodes") on one Redis through @msghub/cluster's RedisStore: any node serves
 * any room, with one id sequence for the whole room.
 */
import { expect } from 'chai';
import { RedisStore } from '@msghub/cluster';
import { until } from '../../cluster/test/helpers.js';
import { RedisServer } from '../../cluster/test/redis-server.js';
import { TestClient, cleanup, startServer, type Running } from './helpers.js';

type Frame = Awaited<ReturnType<TestClient['next']>>;

describe('HubServers on one Redis (a cluster)', () => {
  let redis: RedisServer;
  let stores: RedisStore[] = [];
  let prefixes = 0;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await cleanup();
    await Promise.all(stores.map((store) => store.close()));
    stores = [];
  });

  /** `count` servers, each with its own RedisStore (its own node) on one prefix. */
  async function nodes(count: number): Promise<Running[]> {
    const prefix = `nodes${++prefixes}`;
    const started: Running[] = [];
    for (let i = 0; i < count; i++) {
      const store = new RedisStore({ redis: redis.url, prefix });
      stores.push(store);
      started.push(await startServer({ store }));
    }
    return started;
  }

  async function member(node: Running, user: string, room: string): Promise<TestClient> {
    const client = await node.user(user);
    client.send({ type: 'join', ref: 'j', room });
    await client.waitFor((f) => f.type === 'ok' && f['ref'] === 'j');
    return client;
  }

  const messages = (client: TestClient): [number, unknown][] =>
    client.frames.flatMap((f: Frame) => {
      const event = f['event'] as { id: number; type: string; message?: unknown } | undefined;
      return f.type === 'event' && event?.type === 'message' ? [[event.id, event.message] as [number, unknown]] : [];
    });

  it('delivers every publish, from any node, to the members on every node in one id order; acks carry the ids', async () => {
    const [a, b] = (await nodes(2)) as [Running, Running];
    const ada = await member(a, 'ada', 'lobby');
    const bob = await member(b, 'bob', 'lobby');
    const cyd = await member(b, 'cyd', 'lobby');
    const total = 300;
    const acks = new Map<string, number>();
    for (let i = 0; i < total; i++) {
      const from = [ada, bob, cyd][i % 3] as TestClient;
      from.send({ type: 'publish', ref: `p${i}`, room: 'lobby', data: `m${i}` });
    }
    for (const [i, client] of [ada, bob, cyd].entries()) {
      for (let n = i; n < total; n += 3) {
        const ok = await client.waitFor((f) => f.type === 'ok' && f['ref'] === `p${n}`, 10_000);
        acks.set(`m${n}`, ok['id'] as number);
      }
    }
    for (const client of [ada, bob, cyd]) await until(() => messages(client).length >= total, 10_000, `${total} messages`);
    const seen = messages(ada);
    expect(messages(bob)).to.deep.equal(seen);
    expect(messages(cyd)).to.deep.equal(seen);
    const ids = seen.map(([id]) => id);
    expect(ids).to.deep.equal(Array.from({ length: total }, (_, i) => (ids[0] as number) + i));
    for (const [id, text] of seen) expect(acks.get(text as string)).to.equal(id);
  });

  it('shows members of every node in presence, and a user\'s sessions on two nodes as join then add', async () => {
    const [a, b] = (await nodes(2)) as [Running, Running];
    const first = await member(a, 'ada', 'lobby');
    await member(b, 'ada', 'lobby');
    await member(b, 'bob', 'lobby');
    const types = async (): Promise<string[]> => {
      await first.waitFor((f) => f.type === 'event' && (f['event'] as { userId?: string }).userId === 'bob', 5000);
      return first.frames.filter((f) => f.type === 'event').map((f) => (f['event'] as { type: string }).type);
    };
    expect(await types()).to.deep.equal(['join', 'add', 'join']);
    first.send({ type: 'request', ref: 'r', op: 'presence', data: { room: 'lobby' } });
    const answer = await first.waitFor((f) => f.type === 'response' && f['ref'] === 'r');
    expect(answer['data']).to.deep.equal([
      { userId: 'ada', sessions: 2 },
      { userId: 'bob', sessions: 1 },
    ]);
  });

  it('resumes a client on another node with (epoch, since): exactly the events it missed', async () => {
    const [a, b] = (await nodes(2)) as [Running, Running];
    const ada = await member(a, 'ada', 'lobby');
    const bob = await member(b, 'bob', 'lobby');
    const joined = ada.frames.find((f) => f.type === 'ok' && f['ref'] === 'j') as Frame;
    bob.send({ type: 'publish', ref: 1, room: 'lobby', data: 'before' });
    await ada.waitFor((f) => f.type === 'event' && (f['event'] as { message?: string }).message === 'before');
    const since = (ada.frames.filter((f) => f.type === 'event').at(-1)?.['event'] as { id: number }).id;
    ada.close();
    await ada.closed;
    for (let i = 0; i < 5; i++) bob.send({ type: 'publish', ref: `m${i}`, room: 'lobby', data: `missed${i}` });
    await bob.waitFor((f) => f.type === 'ok' && f['ref'] === 'm4');
    const again = await b.user('ada');
    again.send({ type: 'join', ref: 'j2', room: 'lobby', since, epoch: joined['epoch'] });
    await again.waitFor((f) => f.type === 'event' && (f['event'] as { message?: string }).message === 'missed4', 5000);
    const replayed = again.frames.filter((f) => f.type === 'event').map((f) => f['event'] as { id: number; type: string; message?: string });
    expect(again.frames.some((f) => f.type === 'gap')).to.equal(false);
    expect(replayed.map((e) => e.id)).to.deep.equal(Array.from({ length: replayed.length }, (_, i) => since + 1 + i));
    expect(replayed.filter((e) => e.type === 'message').map((e) => e.message)).to.deep.equal(['missed0', 'missed1', 'missed2', 'missed3', 'missed4']);
  });
});
