import { expect } from 'chai';
import { MessageHub, StoreError, type HubEvent } from '@msghub/messagehub';
import { until, useRedis } from './helpers.js';

describe('NodeRegistry (through RedisStore)', function () {
  this.timeout(20_000);
  const redis = useRedis();
  const quick = { heartbeatMs: 50, nodeTimeoutMs: 400, onError: () => undefined };

  it('lists every live node in Redis and takes a node off the list when its store closes', async () => {
    const a = redis.store('list', quick);
    const b = redis.store('list', quick);
    await until(async () => (await a.redis.zcard('list:nodes')) === 2, 5000, 'both nodes to beat');
    expect((await a.redis.zrange('list:nodes', '0', '-1')).sort()).to.deep.equal([a.nodeId, b.nodeId].sort());
    await b.close();
    expect(await a.redis.zrange('list:nodes', '0', '-1')).to.deep.equal([a.nodeId]);
  });

  it('lets survivors remove the sessions of a node that stopped beating: one leave or remove each, though two survivors look', async () => {
    const ghost = redis.store('reap', { ...quick, nodeId: 'ghost' });
    const onGhost = new MessageHub<string>({ chatroomId: 'lobby', store: ghost });
    onGhost.add('ada', 'tab-1').subscribe({ error: () => undefined });
    onGhost.add('ada', 'tab-2').subscribe({ error: () => undefined });
    onGhost.add('grace', 'tab-1').subscribe({ error: () => undefined });
    await onGhost.getHistory();
    const survivors = [redis.store('reap', quick), redis.store('reap', quick)];
    const seen: HubEvent<string>[][] = [[], []];
    const hubs = survivors.map((store, i) => {
      const hub = new MessageHub<string>({ chatroomId: 'lobby', store });
      hub.attachListener((event) => void seen[i]?.push(event));
      return hub;
    });
    await Promise.all(hubs.map((hub) => hub.getHistory()));
    // The ghost's process "dies": its connection to Redis goes, its heartbeat with it.
    ghost.redis.disconnect(false);
    await until(() => (seen[0] as HubEvent<string>[]).filter((e) => e.type === 'leave').length === 2, 10_000, 'both users to leave');
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const events of seen) {
      const departures = events.flatMap((e) => (e.type === 'leave' || e.type === 'remove' ? [e] : []));
      expect(departures.map((e) => `${e.userId} ${e.sessionId}`).sort()).to.deep.equal(['ada tab-1', 'ada tab-2', 'grace tab-1']);
      // A user's sessions go one by one: remove, then leave for the last.
      expect(departures.filter((e) => e.userId === 'ada').map((e) => e.type)).to.deep.equal(['remove', 'leave']);
      expect(departures.filter((e) => e.userId === 'grace').map((e) => e.type)).to.deep.equal(['leave']);
    }
    expect(await hubs[0]?.presence()).to.deep.equal([]);
    expect(await survivors[0]?.redis.zscore('reap:nodes', 'ghost')).to.equal(null);
    expect(await survivors[0]?.redis.exists('reap:node:{ghost}:rooms')).to.equal(0);
    await Promise.all(hubs.map((hub) => hub.close()));
  });

  it('lets a node taken for dead (a long pause) find out: its removed sessions end with STORE_FAILED and its rooms go back on its list', async () => {
    const paused = redis.store('pause', { heartbeatMs: 1000, nodeTimeoutMs: 5000, onError: () => undefined });
    redis.store('pause', quick);
    const hub = new MessageHub<string>({ chatroomId: 'lobby', store: paused });
    const ended = new Promise<unknown>((resolve) => hub.add('ada', 'tab-1').subscribe({ error: resolve, complete: () => resolve(undefined) }));
    await hub.getHistory();
    // As if its heartbeats had stopped long ago: the survivor takes it for dead.
    await paused.redis.zadd('pause:nodes', '0', paused.nodeId);
    const error = await ended;
    expect(error).to.be.instanceOf(StoreError).with.property('code', 'STORE_FAILED');
    await until(async () => (await paused.redis.exists(`pause:node:{${paused.nodeId}}:rooms`)) === 0, 5000, 'the survivor to forget it');
    // Its next heartbeat finds it off the list: it comes back, its open rooms with it.
    await until(async () => (await paused.redis.sismember(`pause:node:{${paused.nodeId}}:rooms`, 'lobby')) === 1, 5000, 'the room back on the list');
    expect(await paused.redis.zscore('pause:nodes', paused.nodeId)).to.not.equal(null);
    await hub.close();
  });
});
