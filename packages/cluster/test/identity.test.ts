import { expect } from 'chai';
import { ClusterPresence, RedisOfflineQueue, RedisTokenStore } from '../src/index.js';
import { until, useRedis } from './helpers.js';

describe('cluster identity in Redis', function () {
  this.timeout(20_000);
  const redis = useRedis();

  describe('RedisTokenStore', () => {
    it('redeems a token once though many nodes try it at the same time', async () => {
      const nodes = [redis.store('tokens'), redis.store('tokens'), redis.store('tokens')];
      const token = await new RedisTokenStore(nodes[0]!).issue('ada', { meta: { plan: 'pro' } });
      const grants = await Promise.all(Array.from({ length: 30 }, (_, i) => new RedisTokenStore(nodes[i % 3]!).consume(token)));
      expect(grants.filter((grant) => grant !== undefined)).to.deep.equal([{ userId: 'ada', meta: { plan: 'pro' } }]);
    });

    it('refuses an expired or unknown token, and a user id it could never authenticate', async () => {
      const tokens = new RedisTokenStore(redis.store('expiry'), { ttlMs: 50 });
      const token = await tokens.issue('ada');
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(await tokens.consume(token)).to.equal(undefined);
      expect(await tokens.consume('nope')).to.equal(undefined);
      let thrown: unknown;
      await tokens.issue('x'.repeat(257)).catch((error: unknown) => (thrown = error));
      expect(thrown).to.be.instanceOf(TypeError);
      expect(() => new RedisTokenStore(redis.store('bad'), { ttlMs: 0 })).to.throw(TypeError, /ttlMs/);
    });
  });

  describe('RedisOfflineQueue', () => {
    const message = (id: string) => ({ id, type: 'direct' as const, from: 'bob', data: id, ts: 0 });

    it('keeps messages per user in order until acknowledged, up to maxPerUser', async () => {
      const queue = new RedisOfflineQueue(redis.store('queue'), { maxPerUser: 2 });
      expect(await queue.push('ada', message('m1'))).to.equal(true);
      expect(await queue.push('ada', message('m2'))).to.equal(true);
      expect(await queue.push('ada', message('m3'))).to.equal(false);
      expect((await queue.pending('ada')).map((m) => m.id)).to.deep.equal(['m1', 'm2']);
      await queue.ack('ada', ['m1', 'unknown']);
      expect((await queue.pending('ada')).map((m) => m.id)).to.deep.equal(['m2']);
      expect(await queue.pending('nobody')).to.deep.equal([]);
    });

    it('never hands out an expired message', async () => {
      const queue = new RedisOfflineQueue(redis.store('ttl'));
      await queue.push('ada', message('short'), 30);
      await queue.push('ada', message('long'));
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect((await queue.pending('ada')).map((m) => m.id)).to.deep.equal(['long']);
    });

    it('tells the other nodes of a message pushed on one, not the one that pushed it', async () => {
      const [a, b] = [redis.store('follow'), redis.store('follow')];
      const [onA, onB] = [new RedisOfflineQueue(a), new RedisOfflineQueue(b)];
      const seen: string[] = [];
      onA.follow((user, m) => seen.push(`a ${user} ${m.id}`));
      onB.follow((user, m) => seen.push(`b ${user} ${m.id}`));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await onA.push('ada', message('m1'));
      await until(() => seen.length > 0, 5000, 'the notice');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(seen).to.deep.equal(['b ada m1']);
    });
  });

  describe('ClusterPresence', () => {
    it('forgets the connections of a node that died', async () => {
      const ghost = redis.store('dead', { heartbeatMs: 50, nodeTimeoutMs: 300, onError: () => undefined, nodeId: 'ghost' });
      const survivor = redis.store('dead', { heartbeatMs: 50, nodeTimeoutMs: 300, onError: () => undefined });
      const onGhost = new ClusterPresence(ghost);
      const onSurvivor = new ClusterPresence(survivor);
      onGhost.onConnect({ id: 'c1', userId: 'ada' });
      onSurvivor.onConnect({ id: 'c2', userId: 'ada' });
      await until(() => onSurvivor.connections('ada').then((n) => n === 2), 5000, 'both connections');
      ghost.redis.disconnect(false);
      await until(() => onSurvivor.connections('ada').then((n) => n === 1), 5000, 'the ghost\'s connection to go');
      onSurvivor.onDisconnect({ id: 'c2', userId: 'ada' });
      await until(() => onSurvivor.isOnline('ada').then((online) => !online), 5000, 'ada offline');
    });
  });
});
