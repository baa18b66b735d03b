/** `msghub-server --redis`: main jobs in child processes as the nodes of one cluster. */
import { expect } from 'chai';
import { until } from '../../cluster/test/helpers.js';
import { RedisServer } from '../../cluster/test/redis-server.js';
import { parseMainArgs } from '../src/main.js';
import { ClusterNode } from './cluster-node.js';
import { TestClient } from './helpers.js';

describe('main job as a cluster node (--redis)', () => {
  describe('parseMainArgs', () => {
    it('takes --redis over MSGHUB_REDIS; the rooms then live in Redis, not in a log file', () => {
      expect(parseMainArgs(['--redis', 'redis://a:1'], { MSGHUB_REDIS: 'redis://b:2' })).to.include({ redis: 'redis://a:1', log: undefined });
      expect(parseMainArgs([], { MSGHUB_REDIS: 'redis://b:2', MSGHUB_LOG: 'x.log' })).to.include({ redis: 'redis://b:2', log: undefined });
      expect(() => parseMainArgs(['--redis', 'redis://a:1', '--log', 'x.log'], {})).to.throw(TypeError, /either --redis or --log/);
      expect(parseMainArgs([], {})).to.include({ redis: undefined });
      expect(() => parseMainArgs(['--redis', 'localhost:6379'], {})).to.throw(TypeError, /redis:\/\/ URL/);
    });
  });

  describe('in child processes', function () {
    this.timeout(60_000);
    let redis: RedisServer;
    let nodes: ClusterNode[] = [];
    before(async () => {
      redis = await RedisServer.start();
    });
    after(async () => {
      await redis?.stop();
    });
    afterEach(async () => {
      await TestClient.closeAll();
      await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
      nodes = [];
    });

    async function member(node: ClusterNode, user: string, room: string): Promise<TestClient> {
      const client = await TestClient.tcp(node.tcpPort);
      await client.hello({ user });
      client.send({ type: 'join', ref: 'j', room });
      await client.waitFor((f) => f.type === 'ok' && f['ref'] === 'j', 5000);
      return client;
    }

    const messages = (client: TestClient): [number, unknown][] =>
      client.frames.flatMap((f) => {
        const event = f['event'] as { id: number; type: string; message?: unknown } | undefined;
        return f.type === 'event' && event?.type === 'message' ? [[event.id, event.message] as [number, unknown]] : [];
      });

    it('two nodes on different ports serve one room: messages cross, one id order, acks carry the ids', async () => {
      nodes = await Promise.all([ClusterNode.start(redis.url), ClusterNode.start(redis.url)]);
      const [a, b] = nodes as [ClusterNode, ClusterNode];
      const ada = await member(a, 'ada', 'lobby');
      const bob = await member(b, 'bob', 'lobby');
      const total = 200;
      for (let i = 0; i < total; i++) (i % 2 === 0 ? ada : bob).send({ type: 'publish', ref: i, room: 'lobby', data: `m${i}` });
      await until(() => messages(ada).length >= total && messages(bob).length >= total, 15_000, 'every message on both nodes');
      const oks = (): number => [ada, bob].reduce((n, c) => n + c.frames.filter((f) => f.type === 'ok' && typeof f['ref'] === 'number').length, 0);
      await until(() => oks() >= total, 15_000, 'every ok');
      expect(messages(bob)).to.deep.equal(messages(ada));
      const ids = messages(ada).map(([id]) => id);
      expect(ids).to.deep.equal(Array.from({ length: total }, (_, i) => (ids[0] as number) + i));
      const acked = new Map<unknown, number>();
      for (const client of [ada, bob]) {
        for (const f of client.frames) if (f.type === 'ok' && typeof f['ref'] === 'number') acked.set(`m${f['ref']}`, f['id'] as number);
      }
      for (const [id, text] of messages(ada)) expect(acked.get(text)).to.equal(id);
    });
  });
});
