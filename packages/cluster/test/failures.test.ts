/**
 * Redis failing under the rooms: paused, unreachable, restarted with and without its append-only
 * file, and holding entries that are not events. Every test runs its own redis-server.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { MessageHub, StoreError, type HubEvent, type SessionEvent } from '@msghub/messagehub';
import { MalformedEntryError, RedisStore, RedisUnavailableError, SequenceResetError, type RedisStoreOptions } from '../src/index.js';
import { until } from './helpers.js';
import { RedisServer, type Persistence } from './redis-server.js';

describe('RedisStore when Redis fails', function () {
  this.timeout(60_000);
  let server: RedisServer | undefined;
  let stores: RedisStore[] = [];
  let hubs: MessageHub<string>[] = [];
  const reported: Error[] = [];

  async function redis(persistence: Persistence = 'none'): Promise<RedisServer> {
    server = await RedisServer.start({ persistence });
    return server;
  }

  function node(options: RedisStoreOptions = {}): RedisStore {
    const store = new RedisStore({
      redis: (server as RedisServer).url,
      commandTimeoutMs: 1000,
      blockMs: 500,
      onError: (error) => void reported.push(error),
      ...options,
    });
    stores.push(store);
    return store;
  }

  function hub(store: RedisStore, room = 'lobby'): MessageHub<string> {
    const created = new MessageHub<string>({ chatroomId: room, store, onError: (error) => void reported.push(error) });
    hubs.push(created);
    return created;
  }

  /** A session that records what it receives, and how its stream ended. */
  function member(on: MessageHub<string>, user: string): { events: HubEvent<string>[]; ended: Promise<unknown> } {
    const events: HubEvent<string>[] = [];
    const ended = new Promise<unknown>((resolve) => {
      on.add(user, 's1').subscribe({
        next: (e: SessionEvent<string>) => {
          if (e.type !== 'gap') events.push(e);
        },
        error: resolve,
        complete: () => resolve(undefined),
      });
    });
    return { events, ended };
  }

  const messageIds = (events: readonly HubEvent<string>[]): Map<string, number> =>
    new Map(events.flatMap((e) => (e.type === 'message' ? [[e.message, e.id] as [string, number]] : [])));

  afterEach(async () => {
    server?.resume();
    await Promise.all(hubs.map((h) => h.close()));
    await Promise.all(stores.map((store) => store.close()));
    await server?.stop();
    server = undefined;
    stores = [];
    hubs = [];
    reported.length = 0;
  });

  it('paused with SIGSTOP for 2 s: publishes wait and are acknowledged after, nothing lost or repeated, delivery goes on by itself', async () => {
    const redisServer = await redis();
    const [a, b] = [node({ commandTimeoutMs: 5000 }), node({ commandTimeoutMs: 5000 })];
    const onA = hub(a);
    const onB = hub(b);
    const ada = member(onA, 'ada');
    const bob = member(onB, 'bob');
    await Promise.all([onA.getHistory(), onB.getHistory()]);
    const acks: Promise<number>[] = [];
    for (let i = 0; i < 50; i++) acks.push((i % 2 === 0 ? onA : onB).publish(`before${i}`));
    await Promise.all(acks);
    redisServer.pause();
    const paused = Date.now();
    for (let i = 0; i < 50; i++) acks.push((i % 2 === 0 ? onA : onB).publish(`during${i}`));
    setTimeout(() => redisServer.resume(), 2000);
    const ids = await Promise.all(acks);
    expect(Date.now() - paused).to.be.at.least(1900);
    expect(new Set(ids).size).to.equal(100);
    await until(() => messageIds(ada.events).size === 100 && messageIds(bob.events).size === 100, 10_000, 'both to see all 100');
    expect(messageIds(bob.events)).to.deep.equal(messageIds(ada.events));
    for (const [i, id] of ids.entries()) expect(messageIds(ada.events).get(i < 50 ? `before${i}` : `during${i - 50}`)).to.equal(id);
  });

  it('unreachable for longer than commandTimeoutMs: the publish fails with STORE_FAILED (cause REDIS_UNAVAILABLE), never an ok for an event Redis lacks', async () => {
    const redisServer = await redis();
    const a = node({ commandTimeoutMs: 500 });
    const onA = hub(a);
    const ada = member(onA, 'ada');
    expect(await onA.publish('first')).to.equal(2);
    redisServer.pause();
    const started = Date.now();
    const error = await onA.publish('while paused').then(() => undefined, (e: unknown) => e);
    expect(Date.now() - started).to.be.below(3000);
    expect(error).to.be.instanceOf(StoreError).with.property('code', 'STORE_FAILED');
    expect((error as StoreError).cause).to.be.instanceOf(RedisUnavailableError).with.property('code', 'REDIS_UNAVAILABLE');
    expect(await ada.ended).to.be.instanceOf(StoreError);
    redisServer.resume();
    // The room is opened again on this node: it goes on from what Redis has, every ok backed by it.
    const again = hub(a);
    const bob = member(again, 'bob');
    const id = await again.publish('after');
    const stored = await a.read<string>('lobby', 0);
    expect(stored.map((e) => e.id)).to.deep.equal(Array.from({ length: stored.length }, (_, i) => i + 1));
    expect(stored.find((e) => e.id === id)).to.include({ type: 'message', message: 'after' });
    expect(stored.find((e) => e.id === 2)).to.include({ message: 'first' });
    expect(bob.events.at(-1)).to.include({ id });
  });

  it('restarted with appendfsync always mid-stream: no acknowledged event lost, no id repeated, every node delivers again by itself', async () => {
    const redisServer = await redis('always');
    const [a, b] = [node(), node()];
    const onA = hub(a);
    const onB = hub(b);
    const bob = member(onB, 'bob');
    await onB.getHistory();
    const acked = new Map<string, number>();
    let stop = false;
    let sent = 0;
    const publishing = (async () => {
      let current = onA;
      while (!stop && sent < 5000) {
        const text = `m${sent++}`;
        try {
          acked.set(text, await current.publish(text));
        } catch (error) {
          expect(error).to.be.instanceOf(StoreError);
          // The room stopped on this node: open it again, as the server does on the next join.
          current = hub(a);
        }
      }
    })();
    await until(() => acked.size >= 200, 10_000, '200 acks');
    await redisServer.restart();
    const after = acked.size;
    await until(() => acked.size >= after + 200, 20_000, '200 acks after the restart');
    stop = true;
    await publishing;
    const last = Math.max(...acked.values());
    await until(() => (bob.events.at(-1)?.id ?? 0) >= last, 20_000, 'bob to see the last acknowledged id');
    const seen = messageIds(bob.events);
    for (const [text, id] of acked) expect(seen.get(text), text).to.equal(id);
    const ids = bob.events.map((e) => e.id);
    expect(ids).to.deep.equal(Array.from({ length: ids.length }, (_, i) => (ids[0] as number) + i));
  });

  it('restarted without persistence: a room whose sequence Redis lost stops with SEQUENCE_RESET and starts a new epoch when opened again', async () => {
    const redisServer = await redis('none');
    const a = node();
    const onA = hub(a);
    const ada = member(onA, 'ada');
    await onA.publish('one');
    const epoch = onA.epoch;
    await redisServer.restart();
    const ended = await ada.ended;
    expect(ended).to.be.instanceOf(StoreError);
    expect((ended as StoreError).cause).to.be.instanceOf(SequenceResetError).with.property('code', 'SEQUENCE_RESET');
    const again = hub(a);
    const resumed: SessionEvent<string>[] = [];
    again.add('ada', 's2', { since: 2, epoch }).subscribe((e) => resumed.push(e));
    await again.publish('two');
    expect(again.epoch).to.not.equal(epoch);
    expect(resumed[0]).to.include({ type: 'gap', reason: 'reset', epoch: again.epoch });
  });

  it('restarted from an older snapshot: the sequence went back, so it gets a new epoch and no id is taken for another', async () => {
    const redisServer = await redis('none');
    const a = node();
    const onA = hub(a);
    const ada = member(onA, 'ada');
    await onA.publish('kept');
    await a.redis.save();
    for (let i = 0; i < 3; i++) await onA.publish(`lost${i}`);
    const epoch = onA.epoch;
    const seen = onA.lastEventId;
    await redisServer.restart();
    const ended = await ada.ended;
    expect((ended as StoreError).cause).to.be.instanceOf(SequenceResetError);
    const again = hub(a);
    const resumed: SessionEvent<string>[] = [];
    again.add('ada', 's2', { since: seen, epoch }).subscribe((e) => resumed.push(e));
    const id = await again.publish('after');
    expect(again.epoch).to.not.equal(epoch);
    expect(resumed[0]).to.include({ type: 'gap', reason: 'reset', epoch: again.epoch });
    // The ids after the snapshot are given again, but in another epoch: nobody mistakes them.
    expect(id).to.be.at.most(seen + 1);
  });

  it('refuses to append to a room whose epoch changed under it: STORE_FAILED with cause SEQUENCE_RESET', async () => {
    await redis();
    const a = node();
    const onA = hub(a);
    await onA.publish('one');
    await a.redis.hset('msghub:{lobby}:meta', 'epoch', 'another');
    const error = await onA.publish('two').then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(StoreError);
    expect((error as StoreError).cause).to.be.instanceOf(SequenceResetError).with.property('room', 'lobby');
  });

  it('reports a foreign entry in a room\'s stream (MALFORMED_ENTRY), skips it, and the room goes on', async () => {
    await redis();
    const a = node();
    const onA = hub(a);
    const ada = member(onA, 'ada');
    await onA.publish('one');
    await a.redis.xadd('msghub:{lobby}:events', '3-0', 'junk', 'not an event');
    await a.redis.xadd('msghub:{lobby}:events', '4-0', 'e', '{"id":99,"chatroomId":"lobby"');
    const id = await onA.publish('two');
    expect(id).to.equal(5);
    await until(() => ada.events.some((e) => e.id === 5), 5000, 'the next event');
    expect(ada.events.map((e) => e.id)).to.deep.equal([1, 2, 5]);
    const malformed = reported.filter((e) => e instanceof MalformedEntryError) as MalformedEntryError[];
    expect(malformed.map((e) => e.entryId)).to.deep.equal(['3-0', '4-0']);
    expect(reported.some((e) => e instanceof StoreError && /missing/.test(e.message))).to.equal(true);
  });

  it('survives fuzzed entries in a room\'s stream: each is reported once, every real event still arrives in order', async () => {
    await redis();
    const a = node();
    const onA = hub(a);
    const ada = member(onA, 'ada');
    await onA.publish('first');
    let foreign = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.oneof(fc.constant('e'), fc.string({ maxLength: 8 })), fc.oneof(fc.string({ maxLength: 40 }), fc.json())), { minLength: 1, maxLength: 4 }),
        async (fields) => {
          const head = Number(await a.redis.hget('msghub:{lobby}:meta', 'head'));
          const top = await a.redis.xrevrange('msghub:{lobby}:events', '+', '-', 'COUNT', '1');
          const after = Math.max(head, Number(top[0]?.[0].split('-')[0] ?? 0));
          await a.redis.xadd('msghub:{lobby}:events', `${after + 1}-0`, ...fields.flat());
          foreign++;
          const id = await onA.publish(`after ${foreign}`);
          expect(id).to.equal(after + 2);
        },
      ),
      { numRuns: 25 },
    );
    await until(() => reported.filter((e) => e instanceof MalformedEntryError).length === foreign, 5000, 'every foreign entry reported');
    const messages = ada.events.filter((e) => e.type === 'message').map((e) => (e as { message: string }).message);
    expect(messages).to.deep.equal(['first', ...Array.from({ length: foreign }, (_, i) => `after ${i + 1}`)]);
    const ids = ada.events.map((e) => e.id);
    expect(ids).to.deep.equal([...ids].sort((x, y) => x - y));
  });
});
