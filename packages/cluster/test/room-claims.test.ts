import { expect } from 'chai';
import { ClusterRoomClaims } from '../src/index.js';
import { until, useRedis } from './helpers.js';

describe('ClusterRoomClaims', function () {
  this.timeout(20_000);
  const redis = useRedis();
  const quick = { heartbeatMs: 50, nodeTimeoutMs: 400, onError: () => undefined };

  it('gives a room to one session of a user at a time, on any node, and lets it go on release', async () => {
    const [a, b] = [new ClusterRoomClaims(redis.store('claims', quick)), new ClusterRoomClaims(redis.store('claims', quick))] as const;
    expect(await a.claim('duel', 'ada', 's1')).to.equal(true);
    expect(await a.claim('duel', 'ada', 's1')).to.equal(true); // the holder again
    expect(await b.claim('duel', 'ada', 's2')).to.equal(false);
    expect(await a.claim('duel', 'ada', 's3')).to.equal(false);
    expect(await b.claim('duel', 'bob', 's4')).to.equal(true);
    expect(await b.claim('other', 'ada', 's2')).to.equal(true);
    // Only the holder lets it go.
    await b.release('duel', 'ada', 's2');
    expect(await b.claim('duel', 'ada', 's2')).to.equal(false);
    await a.release('duel', 'ada', 's1');
    expect(await b.claim('duel', 'ada', 's2')).to.equal(true);
  });

  it('of many sessions claiming at once on several nodes, gives the room to exactly one', async () => {
    const nodes = [0, 1, 2].map(() => new ClusterRoomClaims(redis.store('race', quick)));
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(nodes.flatMap((node, n) => [0, 1].map((i) => node.claim(`room-${round}`, 'ada', `s${n}-${i}`))));
      expect(results.filter(Boolean), `round ${round}`).to.have.length(1);
    }
  });

  it('lets a survivor release the claims of a node that died', async () => {
    const ghostStore = redis.store('reap-claims', { ...quick, nodeId: 'ghost' });
    const ghost = new ClusterRoomClaims(ghostStore);
    const survivor = new ClusterRoomClaims(redis.store('reap-claims', quick));
    expect(await ghost.claim('duel', 'ada', 's1')).to.equal(true);
    expect(await survivor.claim('duel', 'ada', 's2')).to.equal(false);
    // The ghost's process "dies": its connection to Redis goes, its heartbeat with it.
    ghostStore.redis.disconnect(false);
    await until(() => survivor.claim('duel', 'ada', 's2'), 10_000, 'the dead node\'s claim to go');
    const check = redis.store('reap-claims', quick);
    expect(await check.redis.exists('reap-claims:node:{ghost}:claims')).to.equal(0);
  });
});
