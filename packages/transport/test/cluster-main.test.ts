/** `msghub-server --redis`: main jobs in child processes as the nodes of one cluster. */
import { expect } from 'chai';
import { until } from '../../cluster/test/helpers.js';
import { RedisServer } from '../../cluster/test/redis-server.js';
import { parseMainArgs } from '../src/main.js';
import { ClusterNode, ResumingMember, type SeenEvent } from './cluster-node.js';
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

    it('passes direct messages and answers online across nodes', async () => {
      nodes = await Promise.all([ClusterNode.start(redis.url), ClusterNode.start(redis.url)]);
      const [a, b] = nodes as [ClusterNode, ClusterNode];
      const ada = await TestClient.tcp(a.tcpPort);
      await ada.hello({ user: 'ada' });
      const bob = await TestClient.tcp(b.tcpPort);
      await bob.hello({ user: 'bob' });
      bob.send({ type: 'request', ref: 'r', op: 'online', data: { user: 'ada' } });
      expect(await bob.waitFor((f) => f.type === 'response' && f['ref'] === 'r', 5000)).to.include({ data: true });
      bob.send({ type: 'direct', ref: 'd', to: 'ada', data: 'hi ada' });
      expect(await ada.next('direct', 5000)).to.include({ from: 'bob', data: 'hi ada' });
    });

    it('after a node is SIGKILLed a survivor emits one leave per session it had; its clients resume elsewhere, missing nothing', async () => {
      nodes = await Promise.all([ClusterNode.start(redis.url), ClusterNode.start(redis.url)]);
      const [a, b] = nodes as [ClusterNode, ClusterNode];
      // ada starts on a, bob on b; when a dies, ada may only go to b.
      const forAda = [a];
      const onA = new ResumingMember('ada', 'lobby', () => forAda);
      const onB = new ResumingMember('bob', 'lobby', () => [b]);
      await onA.start();
      await onB.start();
      for (let i = 0; i < 20; i++) await onB.publish(`before${i}`);
      await until(() => onA.events.filter((e) => e.type === 'message').length === 20, 5000, 'ada to see 20 messages');
      const killedSession = onA.sessions[0] as string;
      forAda.splice(0, 1, b);
      await a.kill('SIGKILL');
      const publishing = (async () => {
        for (let i = 0; i < 50; i++) await onB.publish(`during${i}`);
      })();
      await publishing;
      await until(() => onA.sessions.length === 2, 5000, 'ada to resume on b');
      const leaves = (member: ResumingMember): SeenEvent[] =>
        member.events.filter((e) => (e.type === 'leave' || e.type === 'remove') && e.sessionId === killedSession);
      await until(() => leaves(onB).length > 0 && leaves(onA).length > 0, 15_000, 'a survivor to remove the dead node\'s session');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(leaves(onB)).to.have.length(1);
      expect(leaves(onB)[0]).to.include({ type: 'remove', userId: 'ada' });
      for (const member of [onA, onB]) {
        const ids = member.events.map((e) => e.id);
        expect(ids, member.user).to.deep.equal(Array.from({ length: ids.length }, (_, i) => (ids[0] as number) + i));
        expect(member.gaps, member.user).to.deep.equal([]);
      }
      const texts = onA.events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
      expect(texts).to.deep.equal([...Array.from({ length: 20 }, (_, i) => `before${i}`), ...Array.from({ length: 50 }, (_, i) => `during${i}`)]);
      onA.stop();
      onB.stop();
    });

    it('kill loop: 10 SIGKILLs of a random node during 20,000 publishes lose no acknowledged message and leave each dead session once', async function () {
      this.timeout(180_000);
      const TOTAL = 20_000;
      const KILLS = 10;
      const alive: ClusterNode[] = await Promise.all([0, 1, 2].map(() => ClusterNode.start(redis.url)));
      nodes = alive;
      const members = ['ada', 'bob', 'cyd', 'dan', 'eve', 'fay'].map((user) => new ResumingMember(user, 'loop', () => alive));
      for (const member of members) await member.start();
      let sent = 0;
      let acked = 0;
      const publisher = async (member: ResumingMember): Promise<void> => {
        while (sent < TOTAL) {
          const text = `${member.user}#${sent++}`;
          await member.publish(text);
          if (member.acked.has(text)) acked++;
        }
      };
      const publishing = Promise.all(members.flatMap((member) => [0, 1].map(() => publisher(member))));
      const started = Date.now();
      for (let kill = 1; kill <= KILLS; kill++) {
        await until(() => sent >= (kill * TOTAL) / (KILLS + 1), 60_000, `${(kill * TOTAL) / (KILLS + 1)} publishes`);
        // A random node among those serving members (a node nobody is on would test nothing).
        const serving = alive.filter((node) => members.some((member) => member.node === node));
        const victim = (serving.length > 0 ? serving : alive)[Math.floor(Math.random() * (serving.length || alive.length))] as ClusterNode;
        alive.splice(alive.indexOf(victim), 1);
        await victim.kill('SIGKILL');
        const restarted = await ClusterNode.start(redis.url);
        alive.push(restarted);
        nodes.push(restarted);
      }
      await publishing;
      const all = new Map<string, number>();
      for (const member of members) for (const [text, id] of member.acked) all.set(text, id);
      const last = Math.max(...all.values());
      await until(() => members.every((member) => member.lastId >= last), 30_000, 'every member to reach the last acknowledged id');
      // Sessions of killed nodes: every session of a member but its last one.
      const dead = members.flatMap((member) => member.sessions.slice(0, -1));
      const departures = (events: readonly SeenEvent[], session: string): number =>
        events.filter((e) => (e.type === 'leave' || e.type === 'remove') && e.sessionId === session).length;
      const observer = members[0] as ResumingMember;
      await until(() => dead.every((session) => departures(observer.events, session) >= 1), 30_000, 'a survivor to remove every dead session');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      console.log(`      kill loop: ${all.size} of ${TOTAL} publishes acknowledged, ${dead.length} sessions on killed nodes, ${members.reduce((n, m) => n + m.reconnects, 0)} reconnects, ${Date.now() - started} ms; refused: ${JSON.stringify(members.map((m) => [...m.refused]))}, unknown outcome: ${members.reduce((n, m) => n + m.unknown, 0)}`);
      expect(all.size).to.be.greaterThan(TOTAL * 0.95);
      for (const member of members) {
        const ids = member.events.map((e) => e.id);
        const first = ids[0] as number;
        expect(member.gaps, member.user).to.deep.equal([]);
        expect(ids.at(-1), member.user).to.equal(first + ids.length - 1);
        const byId = new Map(member.events.map((e) => [e.id, e]));
        for (const [text, id] of all) {
          if (id < first) continue;
          expect(byId.get(id)?.message, `${member.user} at ${id}`).to.equal(text);
        }
      }
      for (const session of dead) expect(departures(observer.events, session), session).to.equal(1);
      for (const member of members) expect(departures(observer.events, member.sessions.at(-1) as string)).to.equal(0);
      for (const member of members) member.stop();
    });
  });
});
