import { expect } from 'chai';
import { MemoryStore, MessageHub, type HubEvent, type RoomStore } from '@msghub/messagehub';
import { NotFoundWireError } from '@msghub/transport';
import type { HubServerOptions } from '@msghub/transport';
import { skipWhile } from 'rxjs';
import {
  AuthError,
  ConnectionFailedError,
  DisconnectedError,
  ForbiddenError,
  InvalidArgumentError,
  OperationError,
  ProtocolError,
  RequestTimeoutError,
  RoomError,
  UnknownOpError,
  createClient,
  type ClientError,
  type ConnectionState,
  type NodeClientOptions,
  type Discarded,
  type MsghubClient,
  type RoomItem,
  type RoomSignal,
} from '../src/node.js';
import { fast, startServer, until, waitFor, type TestServer } from './harness.js';

// The client against the real @msghub/transport server on loopback (port 0), over both carriers.

describe('MsghubClient against the real server', () => {
  let test: TestServer;
  const clients: MsghubClient[] = [];

  async function serve(options: HubServerOptions = {}): Promise<TestServer> {
    test = await startServer(options);
    return test;
  }

  /** Resolves once `c` has lost its connection and is connected again. */
  function reconnected(c: MsghubClient): Promise<ConnectionState> {
    return waitFor(c.state$.pipe(skipWhile((s) => s !== 'reconnecting')), (s) => s === 'connected');
  }

  /** Shuts the server down (clients get `bye` SHUTDOWN) and starts a new one on the same ports. */
  async function restart(options: HubServerOptions = {}): Promise<TestServer> {
    const { ports } = test;
    await test.server.close();
    await test.close();
    test = await startServer(options, ports);
    return test;
  }

  function client(url: string, options: Omit<NodeClientOptions, 'url'> = {}): MsghubClient {
    const made = createClient({ url, user: 'ada', reconnect: fast, ...options });
    clients.push(made);
    return made;
  }

  function record(c: MsghubClient, room: string) {
    const items: RoomItem[] = [];
    let failure: unknown;
    let complete = false;
    c.join(room).subscribe({
      next: (item) => items.push(item),
      error: (e: unknown) => (failure = e),
      complete: () => (complete = true),
    });
    return {
      items,
      get failure() {
        return failure;
      },
      get complete() {
        return complete;
      },
      messages: () => items.flatMap((item) => (item.type === 'message' ? [item.message] : [])),
      ids: () => items.flatMap((item) => (item.type === 'gap' ? [] : [item.id])),
      gaps: () => items.filter((item) => item.type === 'gap'),
    };
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await test?.close();
  });

  for (const carrier of ['ws', 'tcp'] as const) {
    describe(`resume over ${carrier}`, () => {
      it('reconnects after the server side drops the socket mid-stream, losing and repeating nothing', async () => {
        const { server, wsUrl, tcpUrl } = await serve();
        const subscriber = client(carrier === 'ws' ? wsUrl : tcpUrl);
        const states: ConnectionState[] = [];
        subscriber.state$.subscribe((state) => states.push(state));
        const lobby = record(subscriber, 'lobby');
        await waitFor(subscriber.state$, (s) => s === 'connected');
        const hub = server.rooms.get('lobby')!;
        const total = 300;
        for (let i = 0; i < total; i++) {
          await hub.message('bot', i);
          if (i === 100 || i === 200) {
            // Each drop cuts a live connection; publishing goes on while the client is away.
            await waitFor(subscriber.state$, (s) => s === 'connected');
            test.dropAll();
          }
          // Let sockets work between publishes so drops land mid-stream, not after it.
          if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        await until(() => lobby.messages().length >= total);
        expect(lobby.messages()).to.deep.equal(Array.from({ length: total }, (_, i) => i));
        const ids = lobby.ids();
        expect(new Set(ids).size).to.equal(ids.length);
        expect(ids).to.deep.equal([...ids].sort((a, b) => a - b));
        expect(lobby.gaps()).to.deep.equal([]);
        expect(states.filter((s) => s === 'reconnecting')).to.have.length(2);
      });
    });
  }

  for (const carrier of ['ws', 'tcp'] as const) {
    it(`in a room with presenceEvents 'none' over ${carrier}: only messages, contiguous ids, a resume after a drop with no gap or repeat`, async () => {
      const { server, wsUrl, tcpUrl } = await serve({ presenceEvents: 'none' });
      const url = carrier === 'ws' ? wsUrl : tcpUrl;
      const fans = Array.from({ length: 5 }, (_, i) => client(url, { user: `fan${i}` }));
      const rooms = fans.map((fan) => record(fan, 'stadium'));
      const states: ConnectionState[] = [];
      fans[0]!.state$.subscribe((state) => states.push(state));
      for (const fan of fans) await waitFor(fan.state$, (s) => s === 'connected');
      await until(() => fans.every((fan) => fan.position('stadium') !== undefined));
      expect(await fans[0]!.request('presence', { room: 'stadium' })).to.have.length(5);
      const hub = server.rooms.get('stadium')!;
      const total = 60;
      let back: Promise<unknown> = Promise.resolve();
      for (let i = 0; i < total; i++) {
        await hub.message('bot', i);
        if (i === 20 || i === 40) {
          // Every fan is back from the previous drop; this one cuts them all again mid-stream.
          await back;
          back = Promise.all(fans.map((fan) => reconnected(fan)));
          test.dropAll();
        }
        if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await back;
      await until(() => rooms.every((room) => room.messages().length >= total));
      for (const room of rooms) {
        expect(room.messages()).to.deep.equal(Array.from({ length: total }, (_, i) => i));
        // No join, add, remove or leave reached anyone, though every fan rejoined twice.
        expect(room.ids()).to.deep.equal(Array.from({ length: total }, (_, i) => i + 1));
        expect(room.gaps()).to.deep.equal([]);
      }
      expect(states.filter((s) => s === 'reconnecting')).to.have.length(2);
      expect(await fans[4]!.request('presence', { room: 'stadium' })).to.have.length(5);
      expect(hub.lastEventId).to.equal(total);
    });
  }

  it('delivers a gap notice when the room store no longer reaches back to the last id seen', async () => {
    const { server, wsUrl } = await serve({ hubOptions: { historySize: 5 }, store: new MemoryStore({ retain: 5 }) });
    const subscriber = client(wsUrl, { reconnect: { initialDelayMs: 200, jitter: 0 } });
    const lobby = record(subscriber, 'lobby');
    await waitFor(subscriber.state$, (s) => s === 'connected');
    const hub = server.rooms.get('lobby')!;
    await hub.message('bot', 'before');
    await until(() => lobby.messages().length === 1);
    test.dropAll();
    await waitFor(subscriber.state$, (s) => s === 'reconnecting');
    for (let i = 0; i < 20; i++) await hub.message('bot', i);
    await until(() => lobby.messages().includes(19));
    const [gap] = lobby.gaps();
    expect(gap).to.include({ type: 'gap', chatroomId: 'lobby', reason: 'trimmed' });
    const gapAt = lobby.items.indexOf(gap!);
    const after = lobby.items.slice(gapAt + 1);
    expect(after[0]).to.have.property('id', gap!.resumeAt);
    expect(lobby.messages().slice(0, 1)).to.deep.equal(['before']);
    const ids = lobby.ids();
    expect(ids).to.deep.equal([...new Set(ids)].sort((a, b) => a - b));
  });

  describe('#publishAsync', () => {
    for (const carrier of ['ws', 'tcp'] as const) {
      it(`resolves with the committed id, the one subscribers see (${carrier})`, async () => {
        const { wsUrl, tcpUrl } = await serve();
        const url = carrier === 'ws' ? wsUrl : tcpUrl;
        const ada = client(url, { user: 'ada' });
        const grace = client(url, { user: 'grace' });
        const adaLobby = record(ada, 'lobby');
        const graceLobby = record(grace, 'lobby');
        await waitFor(ada.state$, (s) => s === 'connected');
        await waitFor(grace.state$, (s) => s === 'connected');
        const sent = ada.publishAsync('lobby', 'first');
        expect(sent.status).to.equal('sent');
        const first = await sent;
        const second = await ada.publishAsync('lobby', 'second');
        expect(second).to.equal(first! + 1);
        await until(() => graceLobby.messages().length === 2 && adaLobby.messages().length === 2);
        const seen = (r: ReturnType<typeof record>) =>
          r.items.flatMap((item) => (item.type === 'message' ? [[item.id, item.message]] : []));
        expect(seen(graceLobby)).to.deep.equal([
          [first, 'first'],
          [second, 'second'],
        ]);
        expect(seen(adaLobby)).to.deep.equal(seen(graceLobby));
      });
    }

    it('sends a publish or request the server refused with RATE_LIMITED again after its retryAfterMs, once each', async () => {
      const { wsUrl, server } = await serve({ rateLimit: { frames: 4, intervalMs: 150 } });
      const ada = client(wsUrl, { user: 'ada', requestTimeoutMs: 5_000 });
      const lobby = record(ada, 'lobby');
      await waitFor(ada.state$, (s) => s === 'connected');
      await until(() => lobby.items.length > 0);
      const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => ada.publishAsync('lobby', i)));
      const online = await Promise.all(Array.from({ length: 6 }, () => ada.request('online', { user: 'ada' })));
      expect(server.metrics().rateLimited).to.be.above(0);
      expect(online).to.deep.equal([true, true, true, true, true, true]);
      expect(new Set(ids).size).to.equal(8);
      await until(() => lobby.messages().length === 8);
      expect([...lobby.messages()].sort()).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('resolves a publish queued while disconnected once it is flushed and committed', async () => {
      const { wsUrl } = await serve();
      const c = client(wsUrl, { reconnect: { initialDelayMs: 100, jitter: 0 } });
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      await c.publishAsync('lobby', 'live');
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      const queued = [c.publishAsync('lobby', 'q1'), c.publishAsync('lobby', 'q2')];
      expect(queued.map((p) => p.status)).to.deep.equal(['queued', 'queued']);
      const ids = await Promise.all(queued);
      await until(() => lobby.messages().length === 3);
      const byMessage = new Map(lobby.items.flatMap((item) => (item.type === 'message' ? [[item.message, item.id]] : [])));
      expect(ids).to.deep.equal([byMessage.get('q1'), byMessage.get('q2')]);
    });

    it('rejects with the typed error the server refuses with: NOT_JOINED, FORBIDDEN, UNENCODABLE', async () => {
      const { wsUrl } = await serve({
        authorizePublish: ({ data }) => data !== 'secret',
        // A server hook that turns the message into something JSON cannot hold.
        messageEncoder: (data) => (data === 'huge' ? { n: 1n } : data),
      });
      const c = client(wsUrl);
      const errors: ClientError[] = [];
      c.errors$.subscribe((e) => errors.push(e));
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      const notJoined = await c.publishAsync('elsewhere', 'x').catch((e: unknown) => e);
      expect(notJoined).to.be.instanceOf(RoomError).with.property('code', 'NOT_JOINED');
      const forbidden = await c.publishAsync('lobby', 'secret').catch((e: unknown) => e);
      expect(forbidden).to.be.instanceOf(ForbiddenError).with.property('code', 'FORBIDDEN');
      const unencodable = await c.publishAsync('lobby', 'huge').catch((e: unknown) => e);
      expect(unencodable).to.be.instanceOf(ProtocolError).with.property('code', 'UNENCODABLE');
      expect(unencodable).to.have.property('frame', 'publish');
      // A refused message used no id: the next one follows the last event seen.
      const lastSeen = lobby.ids().at(-1)!;
      expect(await c.publishAsync('lobby', 'fine')).to.equal(lastSeen + 1);
      expect(errors).to.deep.equal([]);
    });

    it('rejects with OperationError STORE_FAILED when the room store cannot commit it', async () => {
      const memory = new MemoryStore();
      const store: RoomStore = {
        encodes: false,
        open: (room, options) => memory.open(room, options),
        append: (room, events) => {
          if (events.some((event) => event.type === 'message' && event.message === 'doomed')) throw new Error('disk full');
          memory.append(room, events);
        },
        read: (room, since, limit) => memory.read(room, since, limit),
        release: () => {},
      };
      const { wsUrl } = await serve({ store });
      const c = client(wsUrl);
      record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      const failed = await c.publishAsync('lobby', 'doomed').catch((e: unknown) => e);
      expect(failed).to.be.instanceOf(OperationError).with.property('code', 'STORE_FAILED');
    });

    it('rejects with DisconnectedError when the socket drops before the answer, and is not sent again', async () => {
      const received: unknown[] = [];
      let release: (() => void) | undefined;
      const { wsUrl } = await serve({
        beforeReceive: (frame) => {
          if (frame.type === 'publish') received.push(frame.data);
          return frame;
        },
        // Holds 'maybe' until the test has cut the connection: its answer can never arrive.
        messageEncoder: (data) => (data === 'maybe' ? new Promise((resolve) => (release = () => resolve(data))) : data),
      });
      const c = client(wsUrl);
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      const pending = c.publishAsync('lobby', 'maybe').catch((e: unknown) => e);
      await until(() => release !== undefined);
      const back = reconnected(c);
      test.dropAll();
      expect(await pending).to.be.instanceOf(DisconnectedError).with.property('code', 'DISCONNECTED');
      // The server goes on with it after all: the outcome was unknown, not a failure.
      release!();
      await back;
      await c.publishAsync('lobby', 'after');
      await until(() => lobby.messages().includes('after'));
      expect(received).to.deep.equal(['maybe', 'after']);
      expect(lobby.messages()).to.deep.equal(['maybe', 'after']);
    });
  });

  describe('resume across a server restart', () => {
    for (const carrier of ['ws', 'tcp'] as const) {
      it(`goes on with no gap and no duplicate when the store keeps the sequence (${carrier})`, async () => {
        const store = new MemoryStore();
        const first = await serve({ store });
        const url = () => (carrier === 'ws' ? test.wsUrl : test.tcpUrl);
        const c = client(url());
        const errors: ClientError[] = [];
        c.errors$.subscribe((e) => errors.push(e));
        const lobby = record(c, 'lobby');
        await waitFor(c.state$, (s) => s === 'connected');
        const before = await c.publishAsync('lobby', 'before');
        const epoch = c.position('lobby')?.epoch;
        expect(epoch).to.be.a('string').and.equal(first.server.rooms.get('lobby')?.epoch);
        await until(() => lobby.messages().length === 1);
        const back = reconnected(c);
        await restart({ store });
        await back;
        expect(errors.some((e) => e.code === 'SHUTDOWN')).to.equal(true);
        const after = await c.publishAsync('lobby', 'after');
        await until(() => lobby.messages().includes('after'));
        // The first server's last events (this session's leave, the room's close) are replayed, the
        // new server's go on after them: one sequence, one epoch.
        const ids = lobby.ids();
        expect(ids).to.deep.equal(Array.from({ length: ids.length }, (_, i) => ids[0]! + i));
        expect(lobby.gaps()).to.deep.equal([]);
        expect(lobby.complete).to.equal(false);
        expect(lobby.items.map((item) => item.type)).to.include('close');
        expect(after).to.equal(ids.at(-1));
        expect(after).to.be.above(before!);
        expect(c.position('lobby')).to.deep.equal({ epoch, lastEventId: after });
        expect(lobby.messages()).to.deep.equal(['before', 'after']);
      });
    }

    it('delivers exactly one reset gap, then the new sequence from its start, when the store is new', async () => {
      await serve();
      const c = client(test.wsUrl);
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      for (let i = 0; i < 5; i++) await c.publishAsync('lobby', `old ${i}`);
      const old = c.position('lobby')!;
      expect(old.lastEventId).to.be.above(3);
      // The new server's store already holds a sequence of its own, with lower ids than the client saw.
      const store = new MemoryStore();
      const earlier = new MessageHub<unknown>({ chatroomId: 'lobby', store });
      await earlier.message('bot', 'new 1');
      await earlier.message('bot', 'new 2');
      await earlier.close();
      const back = reconnected(c);
      const second = await restart({ store });
      await back;
      const id = await c.publishAsync('lobby', 'after');
      await until(() => lobby.messages().includes('after'));
      const epoch = second.server.rooms.get('lobby')!.epoch;
      expect(epoch).to.not.equal(old.epoch);
      const gaps = lobby.gaps();
      expect(gaps).to.deep.equal([{ type: 'gap', chatroomId: 'lobby', since: old.lastEventId, resumeAt: 1, reason: 'reset', epoch }]);
      const afterGap = lobby.items.slice(lobby.items.indexOf(gaps[0]!) + 1);
      const newIds = afterGap.map((item) => (item as HubEvent).id);
      expect(newIds).to.deep.equal(Array.from({ length: newIds.length }, (_, i) => i + 1));
      expect(afterGap.flatMap((item) => (item.type === 'message' ? [item.message] : []))).to.deep.equal(['new 1', 'new 2', 'after']);
      expect(id).to.equal(newIds.at(-1));
      expect(lobby.complete).to.equal(false);
      expect(c.position('lobby')).to.deep.equal({ epoch, lastEventId: id });
    });
  });

  describe('#signal', () => {
    for (const carrier of ['ws', 'tcp'] as const) {
      it(`reaches the other members' signals$ over ${carrier}, takes no event id, and is dropped, not buffered, while disconnected`, async () => {
        const { wsUrl, tcpUrl } = await serve();
        const url = carrier === 'ws' ? wsUrl : tcpUrl;
        const grace = client(url, { user: 'grace' });
        const received: RoomSignal[] = [];
        grace.signals$.subscribe((s) => received.push(s));
        const lobby = record(grace, 'lobby');
        await waitFor(grace.state$, (s) => s === 'connected');
        const ada = client(url);
        const own: RoomSignal[] = [];
        ada.signals$.subscribe((s) => own.push(s));
        record(ada, 'lobby');
        await waitFor(ada.state$, (s) => s === 'connected');
        await until(() => lobby.items.some((item) => item.type === 'join' && item.userId === 'ada'));
        const before = await ada.publishAsync('lobby', 'before');
        expect(ada.signal('lobby', { typing: true })).to.equal('sent');
        await until(() => received.length === 1);
        expect(received).to.deep.equal([{ room: 'lobby', from: 'ada', data: { typing: true } }]);
        expect(await ada.publishAsync('lobby', 'after')).to.equal(before! + 1);
        expect(own).to.deep.equal([]);

        test.dropAll();
        await waitFor(ada.state$, (s) => s === 'reconnecting');
        const discarded: Discarded[] = [];
        ada.discarded$.subscribe((d) => discarded.push(d));
        expect(ada.signal('lobby', { typing: false })).to.equal('discarded');
        await waitFor(ada.state$, (s) => s === 'connected');
        await waitFor(grace.state$, (s) => s === 'connected');
        await ada.publishAsync('lobby', 'back');
        await until(() => lobby.messages().includes('back'));
        expect(received).to.have.length(1);
        expect(discarded).to.deep.equal([]);
      });
    }
  });

  describe('the history operation', () => {
    it('pages back through what was said before the join, with typed errors for bad input', async () => {
      const { server, wsUrl } = await serve();
      const hub = server.rooms.create('lobby');
      for (let i = 1; i <= 7; i++) await hub.message('bot', `m${i}`);
      const c = client(wsUrl);
      const lobby = record(c, 'lobby');
      await until(() => lobby.items.length > 0);
      const first = lobby.items[0] as HubEvent;
      type Page = { events: HubEvent<string>[]; more: boolean; epoch: string };
      const page = await c.request<Page>('history', { room: 'lobby', before: first.id, limit: 4 });
      expect(page.events.map((event) => event.type === 'message' && event.message)).to.deep.equal(['m4', 'm5', 'm6', 'm7']);
      expect(page).to.include({ more: true, epoch: c.position('lobby')?.epoch });
      const rest = await c.request<Page>('history', { room: 'lobby', before: page.events[0]!.id, limit: 4 });
      expect(rest.events.map((event) => event.type === 'message' && event.message)).to.deep.equal(['m1', 'm2', 'm3']);
      expect(rest.more).to.equal(false);
      const refused = await c.request('history', { room: 'lobby', limit: 1000 }).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(OperationError).and.to.include({ code: 'INVALID_ARGUMENT' });
      const outside = await c.request('history', { room: 'elsewhere' }).catch((error: unknown) => error);
      expect(outside).to.be.instanceOf(RoomError).and.to.include({ code: 'NOT_JOINED' });
    });
  });

  describe('send buffer', () => {
    it('queues publishes while disconnected and flushes them in order after the reconnect', async () => {
      const { wsUrl } = await serve();
      const c = client(wsUrl, { reconnect: { initialDelayMs: 100, jitter: 0 } });
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      expect(c.publish('lobby', 'live')).to.equal('sent');
      await until(() => lobby.messages().length === 1);
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      expect(['q1', 'q2', 'q3'].map((m) => c.publish('lobby', m))).to.deep.equal(['queued', 'queued', 'queued']);
      await until(() => lobby.messages().length === 4);
      expect(lobby.messages()).to.deep.equal(['live', 'q1', 'q2', 'q3']);
    });

    it('discards when full and after its timeout while the server cannot be reached', async () => {
      const { wsUrl } = await serve();
      const discarded: Discarded[] = [];
      const c = client(wsUrl, {
        reconnect: { initialDelayMs: 5000, jitter: 0 },
        sendBuffer: { maxFrames: 2, timeoutMs: 100 },
        onDiscard: (d) => discarded.push(d),
      });
      await waitFor(c.state$, (s) => s === 'connected');
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      expect(['a', 'b', 'c'].map((m) => c.publish('lobby', m))).to.deep.equal(['queued', 'queued', 'discarded']);
      await until(() => discarded.length === 3, 2000);
      expect(discarded.map((d) => [(d.frame as { data: unknown }).data, d.reason])).to.deep.equal([
        ['c', 'full'],
        ['a', 'timeout'],
        ['b', 'timeout'],
      ]);
    });
  });

  describe('#request', () => {
    it('resolves with what the handler returned', async () => {
      const { server, tcpUrl } = await serve();
      server.handle('add', (input) => (input as number[]).reduce((a, b) => a + b, 0));
      const c = client(tcpUrl);
      expect(await c.request('add', [1, 2, 3])).to.equal(6);
    });

    it('rejects with RequestTimeoutError when the handler never answers', async () => {
      const { server, wsUrl } = await serve();
      server.handle('hang', () => new Promise(() => {}));
      const c = client(wsUrl);
      const error = await c.request('hang', undefined, { timeoutMs: 100 }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(RequestTimeoutError).with.property('code', 'REQUEST_TIMEOUT');
    });

    it('waits without limit for a timeout beyond what platform timers hold (Infinity)', async () => {
      const { server, wsUrl } = await serve();
      // Platform timers run a longer delay after 1 ms: the handler answers well after that.
      server.handle('slow', () => new Promise((resolve) => setTimeout(resolve, 30, 'late')));
      const c = client(wsUrl, { requestTimeoutMs: Infinity });
      expect(await c.request('slow')).to.equal('late');
      expect(await c.request('slow', undefined, { timeoutMs: 2 ** 40 })).to.equal('late');
    });

    it('rejects with DisconnectedError when the server drops the socket before answering', async () => {
      const { server, wsUrl } = await serve();
      let called!: () => void;
      const running = new Promise<void>((resolve) => (called = resolve));
      server.handle('hang', () => {
        called();
        return new Promise(() => {});
      });
      const c = client(wsUrl);
      const pending = c.request('hang').catch((e: unknown) => e);
      await running;
      test.dropAll();
      expect(await pending).to.be.instanceOf(DisconnectedError).with.property('code', 'DISCONNECTED');
    });
  });

  describe('typed errors', () => {
    it('refuses data JSON cannot encode at the call, with InvalidArgumentError, and the connection and the room go on', async () => {
      const { server, wsUrl } = await serve();
      server.handle('echo', (input) => input);
      const c = client(wsUrl);
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      const states: ConnectionState[] = [];
      c.state$.subscribe((s) => states.push(s));
      const cycle: Record<string, unknown> = {};
      cycle['self'] = cycle;
      const throwing = { toJSON: () => { throw new Error('no'); } };
      for (const bad of [10n, cycle, throwing]) {
        expect(() => c.publish('lobby', bad)).to.throw(InvalidArgumentError).with.property('code', 'INVALID_ARGUMENT');
        expect(() => c.publishAsync('lobby', bad)).to.throw(InvalidArgumentError);
        expect(() => c.direct('grace', bad)).to.throw(InvalidArgumentError);
        expect(() => c.directAsync('grace', bad)).to.throw(InvalidArgumentError);
        expect(() => c.signal('lobby', bad)).to.throw(InvalidArgumentError);
        expect(() => c.notify('ping', bad)).to.throw(InvalidArgumentError);
        expect(() => c.stream('ticks', bad)).to.throw(InvalidArgumentError);
        expect(await c.request('echo', bad).catch((e: unknown) => e)).to.be.instanceOf(InvalidArgumentError);
      }
      // Nothing was sent, no id was used, and the connection was never dropped.
      const id = await c.publishAsync('lobby', 'after');
      expect(await c.request('echo', { ok: 1 })).to.deep.equal({ ok: 1 });
      await until(() => lobby.messages().length === 1);
      expect(lobby.messages()).to.deep.equal(['after']);
      expect(lobby.ids()).to.include(id);
      expect(states.filter((s) => s !== 'connected')).to.deep.equal([]);
    });

    it('carries the server codes: UNKNOWN_OP, NOT_FOUND from a handler, FORBIDDEN on join, NOT_JOINED on publish', async () => {
      const { server, wsUrl } = await serve({ authorizeJoin: ({ room }) => room !== 'vault' });
      server.handle('find', () => {
        throw new NotFoundWireError('no such thing');
      });
      const c = client(wsUrl);
      const errors: ClientError[] = [];
      c.errors$.subscribe((e) => errors.push(e));
      const unknown = await c.request('nope').catch((e: unknown) => e);
      expect(unknown).to.be.instanceOf(UnknownOpError).with.property('code', 'UNKNOWN_OP');
      const notFound = await c.request('find').catch((e: unknown) => e);
      expect(notFound).to.be.instanceOf(OperationError).with.property('code', 'NOT_FOUND');
      const vault = record(c, 'vault');
      await until(() => vault.failure !== undefined);
      expect(vault.failure).to.be.instanceOf(ForbiddenError).with.property('code', 'FORBIDDEN');
      c.publish('elsewhere', 'x');
      await until(() => errors.length > 0);
      expect(errors[0]).to.be.instanceOf(RoomError).with.property('code', 'NOT_JOINED');
      expect(errors[0]).to.have.property('frame', 'publish');
    });

    for (const carrier of ['ws', 'tcp'] as const) {
      it(`reports data nested past the depth limit as ProtocolError FRAME_TOO_DEEP over ${carrier} and goes on`, async () => {
        const { wsUrl, tcpUrl } = await serve();
        const c = client(carrier === 'ws' ? wsUrl : tcpUrl);
        const errors: ClientError[] = [];
        c.errors$.subscribe((e) => errors.push(e));
        const lobby = record(c, 'lobby');
        await waitFor(c.state$, (s) => s === 'connected');
        c.publish('lobby', 'before');
        c.publish('lobby', JSON.parse('['.repeat(100) + ']'.repeat(100)));
        c.publish('lobby', 'after');
        await until(() => lobby.messages().length === 2);
        expect(lobby.messages()).to.deep.equal(['before', 'after']);
        const [before, after] = lobby.items.flatMap((item) => (item.type === 'message' ? [item.id] : []));
        expect(after).to.equal((before ?? NaN) + 1);
        expect(errors).to.have.length(1);
        expect(errors[0]).to.be.instanceOf(ProtocolError).with.property('code', 'FRAME_TOO_DEEP');
        expect(errors[0]).to.have.property('frame', 'publish');
        expect(c.state).to.equal('connected');
      });
    }

    it('stops for good with ProtocolError when the server refuses its hello: a meta nested past the depth limit', async () => {
      const { wsUrl } = await serve();
      const c = client(wsUrl, { meta: { deep: JSON.parse('['.repeat(70) + ']'.repeat(70)) as unknown } });
      const errors: ClientError[] = [];
      c.errors$.subscribe((e) => errors.push(e));
      await waitFor(c.state$, (s) => s === 'disconnected');
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(ProtocolError).with.property('code', 'FRAME_TOO_DEEP');
      expect(errors[0]).to.have.property('frame', 'hello');
    });

    it('stops for good with AuthError when the server refuses the credentials', async () => {
      const { wsUrl } = await serve({ authenticate: () => false });
      const c = client(wsUrl);
      const errors: ClientError[] = [];
      c.errors$.subscribe((e) => errors.push(e));
      await waitFor(c.state$, (s) => s === 'disconnected');
      expect(errors).to.have.length(1);
      expect(errors[0]).to.be.instanceOf(AuthError).with.property('code', 'AUTH_FAILED');
    });
  });

  describe('heartbeat', () => {
    it('answers the server pings: stays connected across many heartbeat intervals', async () => {
      const pings: unknown[] = [];
      const pongs: unknown[] = [];
      const { wsUrl } = await serve({
        heartbeatMs: 50,
        pongTimeoutMs: 250,
        beforeSend: (frame) => {
          if (frame.type === 'ping') pings.push(frame.ts);
          return frame;
        },
        beforeReceive: (frame) => {
          if (frame.type === 'pong') pongs.push(frame.ts);
          return frame;
        },
      });
      // Only the server's side is under test here: keep the client's own watchdog out of it.
      const c = client(wsUrl, { heartbeatTimeoutMs: 5000 });
      const states: ConnectionState[] = [];
      c.state$.subscribe((state) => states.push(state));
      await waitFor(c.state$, (s) => s === 'connected');
      // The server pings again only after an answer: eight answered pings outlast the pong timeout.
      await until(() => pongs.length >= 8);
      expect(pongs).to.deep.equal(pings.slice(0, pongs.length));
      expect(states).to.deep.equal(['connecting', 'connected']);
    });

    it('replaces a connection that went silent (a black-holed path) and resumes the room', async () => {
      const { server, tcpUrl } = await serve({ heartbeatMs: 50, pongTimeoutMs: 5000 });
      const c = client(tcpUrl);
      const errors: ClientError[] = [];
      c.errors$.subscribe((e) => errors.push(e));
      const lobby = record(c, 'lobby');
      await waitFor(c.state$, (s) => s === 'connected');
      test.freezeTcp();
      const hub = server.rooms.get('lobby')!;
      await hub.message('bot', 'while silent');
      await waitFor(c.state$, (s) => s === 'reconnecting', 2000);
      expect(errors[0]).to.be.instanceOf(ConnectionFailedError);
      await until(() => lobby.messages().includes('while silent'));
      expect(lobby.messages()).to.deep.equal(['while silent']);
    });
  });

  describe('#direct and #leave', () => {
    it('delivers a direct message to the other user, also one queued while that user was offline', async () => {
      const { wsUrl, tcpUrl } = await serve();
      const ada = client(wsUrl, { user: 'ada' });
      await waitFor(ada.state$, (s) => s === 'connected');
      expect(ada.direct('grace', 'while away')).to.equal('sent');
      // The server accepted it (a later request on the same connection is answered after it).
      await ada.request('online', { user: 'grace' });
      const grace = client(tcpUrl, { user: 'grace' });
      const received: unknown[] = [];
      grace.direct$.subscribe((m) => received.push([m.from, m.data]));
      await waitFor(grace.state$, (s) => s === 'connected');
      ada.direct('grace', 'now');
      await until(() => received.length === 2);
      expect(received).to.deep.equal([
        ['ada', 'while away'],
        ['ada', 'now'],
      ]);
    });

    it('leaves a room: the stream completes and later events do not arrive', async () => {
      const { server, wsUrl } = await serve();
      const c = client(wsUrl);
      let complete = false;
      const items: RoomItem[] = [];
      c.join('lobby').subscribe({ next: (item) => items.push(item), complete: () => (complete = true) });
      await waitFor(c.state$, (s) => s === 'connected');
      await c.leave('lobby');
      expect(complete).to.equal(true);
      await server.rooms.get('lobby')?.message('bot', 'after');
      expect(await c.request('presence', { room: 'lobby' })).to.deep.equal([]);
      expect(items.some((item) => item.type === 'message')).to.equal(false);
    });
  });

  it('sends extra upgrade headers that the server authenticator reads (Node ws)', async () => {
    const { wsUrl } = await serve({ authenticate: ({ handshake }) => handshake.headers['x-user'] as string | undefined });
    const c = createClient({ url: wsUrl, headers: { 'x-user': 'hedy' }, reconnect: fast });
    clients.push(c);
    await waitFor(c.state$, (s) => s === 'connected');
    expect(c.userId).to.equal('hedy');
  });

  it('fetches a fresh single-use connect token for every reconnect', async () => {
    const { server, wsUrl } = await serve({ trustClientUser: false });
    let issued = 0;
    const c = client(wsUrl, {
      token: () => {
        issued++;
        return server.tokens.issue('grace');
      },
    });
    await waitFor(c.state$, (s) => s === 'connected');
    expect(c.userId).to.equal('grace');
    test.dropAll();
    await waitFor(c.state$, (s) => s === 'reconnecting');
    await waitFor(c.state$, (s) => s === 'connected');
    expect(issued).to.equal(2);
  });
});
