/**
 * Several HubServers ("nodes") on one Redis through @msghub/cluster's RedisStore: any node serves
 * any room, with one id sequence for the whole room.
 */
import { expect } from 'chai';
import { ClusterPresence, ClusterRoomClaims, ClusterSignals, RedisOfflineQueue, RedisStore, RedisTokenStore } from '@msghub/cluster';
import { HubServer, type DirectFrame, type HubServerOptions } from '../src/index.js';
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

  interface Node extends Running {
    readonly store: RedisStore;
    readonly presence: ClusterPresence;
  }

  /**
   * `count` servers, each with its own RedisStore (its own node) on one prefix, with the cluster's
   * presence (online, kicks, single sign-on) and offline queue.
   */
  async function nodes(count: number, options: HubServerOptions | ((store: RedisStore) => HubServerOptions) = {}, singleSession = false): Promise<Node[]> {
    const prefix = `nodes${++prefixes}`;
    const started: Node[] = [];
    for (let i = 0; i < count; i++) {
      const store = new RedisStore({ redis: redis.url, prefix });
      stores.push(store);
      const presence = new ClusterPresence(store, { singleSession });
      const running = await startServer({
        store,
        singleSession,
        offlineQueue: new RedisOfflineQueue<DirectFrame>(store),
        signalBus: new ClusterSignals(store),
        onConnect: presence.onConnect,
        onDisconnect: presence.onDisconnect,
        ...(typeof options === 'function' ? options(store) : options),
      });
      await presence.attach(running.server);
      started.push({ ...running, store, presence });
    }
    return started;
  }

  async function ask(client: TestClient, op: string, data: unknown): Promise<unknown> {
    const ref = `${op}-${Math.random()}`;
    client.send({ type: 'request', ref, op, data });
    return (await client.waitFor((f) => f.type === 'response' && f['ref'] === ref, 5000))['data'];
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
    const [a, b] = (await nodes(2)) as [Node, Node];
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

  it('sequences rooms through Redis with metrics on too (commits timed around the RedisStore)', async () => {
    const [a, b] = (await nodes(2, { metrics: true })) as [Node, Node];
    const ada = await member(a, 'ada', 'lobby');
    const bob = await member(b, 'bob', 'lobby');
    ada.send({ type: 'publish', ref: 'p1', room: 'lobby', data: 'from a' });
    bob.send({ type: 'publish', ref: 'p2', room: 'lobby', data: 'from b' });
    const ids = [
      (await ada.waitFor((f) => f.type === 'ok' && f['ref'] === 'p1', 5000))['id'],
      (await bob.waitFor((f) => f.type === 'ok' && f['ref'] === 'p2', 5000))['id'],
    ];
    expect([...ids].sort()).to.deep.equal([3, 4]);
    await until(() => messages(ada).length === 2 && messages(bob).length === 2, 5000, 'both messages on both nodes');
    expect(messages(bob)).to.deep.equal(messages(ada));
  });

  it('shows members of every node in presence, and a user\'s sessions on two nodes as join then add', async () => {
    const [a, b] = (await nodes(2)) as [Node, Node];
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
    const [a, b] = (await nodes(2)) as [Node, Node];
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

  describe('identity across nodes', () => {
    it('answers online for a user connected to another node, and no longer once it has gone', async () => {
      const [a, b] = (await nodes(2)) as [Node, Node];
      const ada = await a.user('ada');
      const bob = await b.user('bob');
      await until(async () => (await ask(bob, 'online', { user: 'ada' })) === true, 5000, 'ada online');
      expect(await ask(bob, 'online', { user: 'nobody' })).to.equal(false);
      ada.close();
      await until(async () => (await ask(bob, 'online', { user: 'ada' })) === false, 5000, 'ada offline');
    });

    it('kicks a user\'s connections on every node', async () => {
      const [a, b] = (await nodes(2)) as [Node, Node];
      const onA = await a.user('ada');
      const onB = await b.user('ada');
      await b.presence.kick('ada', 'Go away');
      for (const client of [onA, onB]) expect(await client.next('kicked', 5000)).to.include({ code: 'KICKED', reason: 'Go away' });
    });

    it('with single sign-on, a new connection on one node ends the user\'s older one on another', async () => {
      const [a, b] = (await nodes(2, {}, true)) as [Node, Node];
      const first = await a.user('ada');
      await until(() => a.presence.connections('ada').then((n) => n === 1), 5000, 'the first login recorded');
      const second = await b.user('ada');
      expect(await first.next('kicked', 5000)).to.include({ reason: 'Signed in elsewhere' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(second.isClosed).to.equal(false);
      expect(second.frames.some((f) => f.type === 'kicked')).to.equal(false);
    });

    it('accepts a connect token issued for the cluster once, on whichever node sees it first', async () => {
      // The login service's own connection to the cluster's Redis issues the tokens.
      const login = new RedisStore({ redis: redis.url, prefix: 'tokens' });
      stores.push(login);
      const tokens = new RedisTokenStore(login, { ttlMs: 5000 });
      const authenticate: HubServerOptions['authenticate'] = ({ hello }) => (hello.token === undefined ? undefined : tokens.consume(hello.token));
      const [c, d] = (await nodes(2, { authenticate })) as [Node, Node];
      const token = await tokens.issue('ada', { meta: { plan: 'pro' } });
      const first = await TestClient.ws(d.wsUrl);
      expect(await first.hello({ token })).to.include({ userId: 'ada' });
      const again = await TestClient.ws(c.wsUrl);
      again.send({ type: 'hello', v: 1, token });
      expect(await again.next('error', 5000)).to.include({ code: 'AUTH_FAILED' });
    });

    it('binds a cluster token to its rooms on whichever node redeems it', async () => {
      const login = new RedisStore({ redis: redis.url, prefix: 'bound-tokens' });
      stores.push(login);
      const tokens = new RedisTokenStore(login, { ttlMs: 5000 });
      const authenticate: HubServerOptions['authenticate'] = ({ hello }) => (hello.token === undefined ? undefined : tokens.consume(hello.token));
      const [, d] = (await nodes(2, { authenticate })) as [Node, Node];
      const ada = await TestClient.ws(d.wsUrl);
      await ada.hello({ token: await tokens.issue('ada', { rooms: ['match:*'], meta: { plan: 'pro' } }) });
      ada.send({ type: 'join', ref: 1, room: 'match:9' });
      expect(await ada.next('ok', 5000)).to.include({ ref: 1 });
      ada.send({ type: 'join', ref: 2, room: 'lobby' });
      expect(await ada.next('error', 5000)).to.include({ code: 'FORBIDDEN', ref: 2 });
      for (const options of [{ rooms: 'match' }, { rooms: [''] }, { plan: 'pro' }, null]) {
        let thrown: unknown;
        await tokens.issue('ada', options as never).catch((error: unknown) => (thrown = error));
        expect(thrown, JSON.stringify(options)).to.be.instanceOf(TypeError);
      }
    });

    it('refuses a user\'s second session in a unique room on another node once the first is known there', async () => {
      const [a, b] = (await nodes(2, { uniqueUsers: true })) as [Node, Node];
      await member(a, 'ada', 'duel');
      await member(b, 'bob', 'duel');
      // b opened the room from Redis and follows its stream: its membership knows ada.
      await until(async () => (await b.server.rooms.get('duel')!.presence()).some((m) => m.userId === 'ada'), 5000, 'ada known on b');
      const second = await b.user('ada');
      second.send({ type: 'join', ref: 'j2', room: 'duel' });
      expect(await second.next('error', 5000)).to.include({ code: 'USER_IN_ROOM', ref: 'j2' });
      const cyd = await b.user('cyd');
      cyd.send({ type: 'join', ref: 'j3', room: 'duel' });
      expect(await cyd.next('ok', 5000)).to.include({ ref: 'j3' });
    });

    it('with ClusterRoomClaims, lets exactly one of a user\'s connections joining a unique room at once on two nodes in', async () => {
      const [ca, cb] = (await nodes(2, (store) => ({ uniqueUsers: true, roomClaims: new ClusterRoomClaims(store) }))) as [Node, Node];
      for (let round = 0; round < 10; round++) {
        const room = `duel-${round}`;
        const [x, y] = await Promise.all([ca.user('ada'), cb.user('ada')]);
        x.send({ type: 'join', ref: 'j', room });
        y.send({ type: 'join', ref: 'j', room });
        const answers = await Promise.all([x, y].map((c) => c.waitFor((f) => f['ref'] === 'j', 5000)));
        expect(answers.map((f) => (f.type === 'ok' ? 'ok' : f['code'])).sort(), `round ${round}`).to.deep.equal(['USER_IN_ROOM', 'ok']);
        // The holder leaves (or disconnects): the other gets in.
        const [holder, other] = answers[0]!.type === 'ok' ? [x, y] : [y, x];
        if (round % 2 === 0) {
          holder.send({ type: 'leave', ref: 'l', room });
          await holder.waitFor((f) => f['ref'] === 'l', 5000);
        } else {
          holder.close();
          await holder.closed;
        }
        await until(async () => {
          other.send({ type: 'join', ref: `again-${round}`, room });
          const answer = await other.waitFor((f) => f['ref'] === `again-${round}`, 5000);
          return answer.type === 'ok';
        }, 5000, 'the claim to be let go');
        other.close();
      }
    });

    it('delivers a direct message to the recipient\'s connection on another node, and keeps it for an offline one', async () => {
      const [a, b] = (await nodes(2)) as [Node, Node];
      const ada = await a.user('ada');
      const bob = await b.user('bob');
      bob.send({ type: 'direct', ref: 'd1', to: 'ada', data: 'across' });
      await bob.waitFor((f) => f.type === 'ok' && f['ref'] === 'd1', 5000);
      expect(await ada.next('direct', 5000)).to.include({ from: 'bob', data: 'across' });
      bob.send({ type: 'direct', ref: 'd2', to: 'cyd', data: 'for later' });
      await bob.waitFor((f) => f.type === 'ok' && f['ref'] === 'd2', 5000);
      const cyd = await a.user('cyd');
      expect(await cyd.next('direct', 5000)).to.include({ from: 'bob', data: 'for later' });
    });

    it('refuses a signalBus without publish() and follow() with a TypeError', () => {
      expect(() => new HubServer({ signalBus: { publish() {} } as never })).to.throw(TypeError, /signalBus/);
    });

    it('passes a member\'s signal to the room\'s members on other nodes, and only to them', async () => {
      const [a, b] = (await nodes(2)) as [Node, Node];
      const ada = await member(a, 'ada', 'lobby');
      const bob = await member(b, 'bob', 'lobby');
      const cyd = await member(b, 'cyd', 'kitchen');
      await new Promise((resolve) => setTimeout(resolve, 50));
      ada.send({ type: 'signal', ref: 's', room: 'lobby', data: { typing: true } });
      expect(await bob.next('signal', 5000)).to.deep.equal({ type: 'signal', room: 'lobby', from: 'ada', data: { typing: true } });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(ada.frames.some((f) => f.type === 'signal')).to.equal(false);
      expect(cyd.frames.some((f) => f.type === 'signal')).to.equal(false);
    });

    it('answers presence for a room open only on other nodes', async () => {
      const [a, b] = (await nodes(2)) as [Node, Node];
      await member(a, 'ada', 'kitchen');
      const bob = await b.user('bob');
      expect(await ask(bob, 'presence', { room: 'kitchen' })).to.deep.equal([{ userId: 'ada', sessions: 1 }]);
    });
  });
});
