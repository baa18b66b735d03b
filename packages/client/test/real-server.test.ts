import { expect } from 'chai';
import { NotFoundWireError } from '@msghub/transport';
import type { HubServerOptions } from '@msghub/transport';
import {
  AuthError,
  ConnectionFailedError,
  DisconnectedError,
  ForbiddenError,
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
} from '../src/node.js';
import { startServer, until, waitFor, type TestServer } from './harness.js';

// The client against the real @msghub/transport server on loopback (port 0), over both carriers.

const fast = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 };

describe('MsghubClient against the real server', () => {
  let test: TestServer;
  const clients: MsghubClient[] = [];

  async function serve(options: HubServerOptions = {}): Promise<TestServer> {
    test = await startServer(options);
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
    c.join(room).subscribe({ next: (item) => items.push(item), error: (e: unknown) => (failure = e) });
    return {
      items,
      get failure() {
        return failure;
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

  it('delivers a gap notice when the room history no longer reaches back to the last id seen', async () => {
    const { server, wsUrl } = await serve({ hubOptions: { historySize: 5 } });
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
