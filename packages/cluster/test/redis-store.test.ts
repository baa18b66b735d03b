import { expect } from 'chai';
import { MessageHub, type HubEvent } from '@msghub/messagehub';
import { describeRoomStore, message } from '../../messagehub/test/store-conformance.js';
import { RedisStore, type RedisStoreOptions } from '../src/index.js';
import { useRedis } from './helpers.js';

describe('RedisStore', () => {
  const redis = useRedis();
  const open = (prefix: string, options: RedisStoreOptions = {}): RedisStore => redis.store(prefix, options);
  let prefixes = 0;

  describeRoomStore('RedisStore', async () => {
    const prefix = `conformance${++prefixes}`;
    const fixture = (store: RedisStore) => ({
      store,
      reopen: async () => {
        await store.close();
        return fixture(new RedisStore({ redis: redis.server.url, prefix }));
      },
      dispose: () => store.close(),
    });
    return fixture(new RedisStore({ redis: redis.server.url, prefix }));
  });

  describe('#constructor', () => {
    it('rejects options of the wrong type with a TypeError naming expected and given', () => {
      const cases: [unknown, RegExp][] = [
        [{ redis: 'http://x' }, /`redis` to be a redis:\/\/ URL or ioredis options, got "http:\/\/x"/],
        [{ prefix: 'a b' }, /`prefix` to be a non-empty string without spaces or braces/],
        [{ retain: 0 }, /`retain` to be an integer >= 1, got 0/],
        [{ heartbeatMs: 1000, nodeTimeoutMs: 500 }, /`nodeTimeoutMs` to be more than `heartbeatMs` \(1000\), got 500/],
        [{ onError: 3 }, /`onError` to be a function/],
      ];
      for (const [options, expected] of cases) expect(() => new RedisStore(options as RedisStoreOptions)).to.throw(TypeError, expected);
    });
  });

  describe('rooms without presence events', () => {
    it("refuses presenceEvents 'none' with INVALID_OPTION: the nodes learn a room's members from its join and leave events", async () => {
      const store = open('quiet');
      const create = (): unknown => new MessageHub({ chatroomId: 'stadium', store, presenceEvents: 'none' });
      expect(create).to.throw(TypeError).with.property('code', 'INVALID_OPTION');
      // Nothing of the refused room reached Redis, and the default room works as ever.
      expect(await store.redis.keys('quiet:*stadium*')).to.deep.equal([]);
      const hub = new MessageHub<string>({ chatroomId: 'stadium', store });
      const seen: string[] = [];
      hub.add('ada', 's1').subscribe((event) => seen.push(`${event.id}:${event.type}`));
      expect(await hub.publish('hi', { from: 'ada' })).to.equal(2);
      await hub.close();
      expect(seen).to.deep.equal(['1:join', '2:message', '3:close']);
    });
  });

  describe('#append', () => {
    it('gives two nodes appending to one room disjoint, consecutive ids', async () => {
      const a = open('ids');
      const b = open('ids');
      await Promise.all([a.open('lobby', { historySize: 10 }), b.open('lobby', { historySize: 10 })]);
      const batches = await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const store = i % 2 === 0 ? a : b;
          const events = Array.from({ length: 1 + (i % 3) }, (_, j) => message('lobby', 0, `${i}.${j}`));
          return store.append('lobby', events, events.map((e) => JSON.stringify(e)));
        }),
      );
      const ids = batches.flat().sort((x, y) => x - y);
      expect(ids).to.deep.equal(Array.from({ length: ids.length }, (_, i) => i + 1));
      // Within a batch the ids are consecutive: one script call appends it at once.
      for (const batch of batches) expect(batch).to.deep.equal(batch.map((_, i) => (batch[0] as number) + i));
      const stored = await a.read<string>('lobby', 0);
      expect(stored.map((e) => e.id)).to.deep.equal(ids);
      for (const [i, batch] of batches.entries()) {
        batch.forEach((id, j) => expect((stored[id - 1] as HubEvent<string> & { message: string }).message).to.equal(`${i}.${j}`));
      }
    });

    it('writes ids past 10^14 as integers, never in exponent notation', async () => {
      const store = open('large');
      await store.open('lobby', { historySize: 10 });
      await store.redis.hset('large:{lobby}:meta', 'head', String(10 ** 15));
      const events = [message('lobby', 0)];
      expect(await store.append('lobby', events, events.map((e) => JSON.stringify(e)))).to.deep.equal([10 ** 15 + 1]);
      const [entry] = await store.redis.xrange('large:{lobby}:events', '-', '+');
      expect(entry?.[0]).to.equal('1000000000000001-0');
      expect((await store.read('lobby', 10 ** 15))[0]?.id).to.equal(10 ** 15 + 1);
    });

    it('trims each room\'s stream to about `retain` events', async () => {
      const store = open('trim', { retain: 100 });
      await store.open('lobby', { historySize: 10 });
      for (let i = 0; i < 10; i++) {
        const events = Array.from({ length: 100 }, () => message('lobby', 0));
        await store.append('lobby', events, undefined);
      }
      const length = await store.redis.xlen('trim:{lobby}:events');
      expect(length).to.be.at.least(100).and.below(300);
    });
  });

  describe('with MessageHub', () => {
    it('never lets the stream\'s trimming overtake what a busy room appends: 5000 publishes with retain 50 all arrive', async () => {
      // A reader slower than the writer: 5 entries per read against chunks of 25 per append.
      const store = open('flow', { retain: 50, readCount: 5 });
      const reported: unknown[] = [];
      const hub = new MessageHub<string>({ chatroomId: 'lobby', store, historySize: 10, onError: (e) => void reported.push(e) });
      const ids: number[] = [];
      hub.add('ada', 's1').subscribe((e) => void ids.push((e as HubEvent<string>).id));
      await hub.getHistory();
      const acks: Promise<number>[] = [];
      for (let i = 0; i < 5000; i++) acks.push(hub.publish(`m${i}`));
      const acked = await Promise.all(acks);
      expect(acked).to.deep.equal(Array.from({ length: 5000 }, (_, i) => i + 2));
      expect(ids).to.deep.equal(Array.from({ length: 5001 }, (_, i) => i + 1));
      expect(reported).to.deep.equal([]);
      expect(await store.redis.xlen('flow:{lobby}:events')).to.be.below(300);
      await hub.close();
    });

    it('acknowledges a publish with the id Redis gave and delivers it to the hub\'s sessions', async () => {
      const store = open('hub');
      const hub = new MessageHub<string>({ chatroomId: 'lobby', store });
      const events: HubEvent<string>[] = [];
      hub.add('ada', 's1').subscribe((e) => events.push(e as HubEvent<string>));
      expect(await hub.publish('hello', { from: 'ada' })).to.equal(2);
      expect(events.map((e) => [e.id, e.type])).to.deep.equal([[1, 'join'], [2, 'message']]);
      await hub.close();
    });
  });
});
