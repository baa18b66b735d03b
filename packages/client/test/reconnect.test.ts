import { expect } from 'chai';
import {
  ClientClosedError,
  DisconnectedError,
  ForbiddenError,
  InvalidArgumentError,
  InvalidOptionError,
  RoomError,
  createClient,
  type ClientError,
  type ConnectionState,
  type DirectMessage,
  type DiscardReason,
  type MsghubClient,
  type NodeClientOptions,
  type RoomItem,
} from '../src/node.js';
import { fast, startServer, until, waitFor, type TestServer } from './harness.js';
import { NotFoundWireError, type ConnectionInfo } from '@msghub/transport';

// client.reconnect(), the per-call onDiscard of publish and direct, and the server features a
// client sees (room-bound tokens, unique rooms, server.sendTo), against the real server.

describe('MsghubClient: reconnect, onDiscard, and room access against the real server', () => {
  let test: TestServer | undefined;
  const clients: MsghubClient[] = [];

  function client(url: string, options: Omit<NodeClientOptions, 'url'> = {}): MsghubClient {
    const made = createClient({ url, user: 'ada', reconnect: fast, ...options });
    clients.push(made);
    return made;
  }

  function messages(items: RoomItem[]): unknown[] {
    return items.flatMap((item) => (item.type === 'message' ? [item.message] : []));
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await test?.close();
    test = undefined;
  });

  describe('#reconnect', () => {
    for (const carrier of ['ws', 'tcp'] as const) {
      it(`drops the connection and resumes every room on a new one, missing and repeating nothing (${carrier})`, async () => {
        test = await startServer();
        const { server } = test;
        const c = client(carrier === 'ws' ? test.wsUrl : test.tcpUrl);
        const states: ConnectionState[] = [];
        const errors: ClientError[] = [];
        c.state$.subscribe((s) => states.push(s));
        c.errors$.subscribe((e) => errors.push(e));
        const items: RoomItem[] = [];
        c.join('lobby').subscribe((item) => items.push(item));
        await waitFor(c.state$, (s) => s === 'connected');
        await until(() => server.rooms.get('lobby') !== undefined && server.connections()[0]?.rooms.length === 1);
        const before = server.connections().map((x) => x.id);
        const hub = server.rooms.get('lobby')!;
        for (let i = 0; i < 100; i++) {
          await hub.message('bot', i);
          if (i === 30 || i === 60) {
            await waitFor(c.state$, (s) => s === 'connected');
            c.reconnect();
          }
          if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        await until(() => messages(items).length >= 100);
        await waitFor(c.state$, (s) => s === 'connected');
        expect(messages(items)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
        expect(items.filter((item) => item.type === 'gap')).to.deep.equal([]);
        expect(states).to.deep.equal(['connecting', 'connected', 'reconnecting', 'connected', 'reconnecting', 'connected']);
        // A reconnect the application asked for is not an error.
        expect(errors).to.deep.equal([]);
        await until(() => server.connections().length === 1);
        expect(server.connections()[0]!.id).to.not.be.oneOf(before);
      });
    }

    it('connects at once while a backoff delay runs, and resets the backoff', async () => {
      test = await startServer();
      const c = client(test.wsUrl, { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
      await waitFor(c.state$, (s) => s === 'connected');
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      const started = Date.now();
      c.reconnect();
      await waitFor(c.state$, (s) => s === 'connected', 5000);
      expect(Date.now() - started).to.be.below(5000);
      // Backoff reset: the next loss waits the first delay again (60 s here), so reconnect() is what brings it back.
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      c.reconnect();
      await waitFor(c.state$, (s) => s === 'connected', 5000);
    });

    it('fails a request written on the dropped connection with DisconnectedError, and flushes what was buffered', async () => {
      test = await startServer();
      test.server.handle('never', () => new Promise(() => {}));
      const c = client(test.wsUrl);
      const items: RoomItem[] = [];
      c.join('lobby').subscribe((item) => items.push(item));
      await waitFor(c.state$, (s) => s === 'connected');
      const pending = c.request('never', undefined, { timeoutMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      c.reconnect();
      expect(c.state).to.equal('reconnecting');
      expect(c.publish('lobby', 'after')).to.equal('queued');
      const error = await pending.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(DisconnectedError);
      await until(() => messages(items).includes('after'));
    });

    it('reconnects by hand with reconnect: false, which only stops the client from reconnecting by itself', async () => {
      test = await startServer();
      const c = client(test.wsUrl, { reconnect: false });
      const items: RoomItem[] = [];
      let failure: unknown;
      c.join('lobby').subscribe({ next: (item) => items.push(item), error: (e: unknown) => (failure = e) });
      await waitFor(c.state$, (s) => s === 'connected');
      c.reconnect();
      await waitFor(c.state$, (s) => s === 'connected');
      expect(await c.publishAsync('lobby', 'after')).to.be.a('number');
      await until(() => messages(items).includes('after'));
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'disconnected');
      expect(failure).to.have.property('code', 'CONNECTION_FAILED');
      expect(() => c.reconnect()).to.throw(ClientClosedError);
    });

    it('throws ClientClosedError after close()', async () => {
      test = await startServer();
      const c = client(test.wsUrl);
      await waitFor(c.state$, (s) => s === 'connected');
      await c.close();
      expect(() => c.reconnect()).to.throw(ClientClosedError);
    });
  });

  describe('onDiscard of publish and direct', () => {
    it('is called with full, timeout and closed for the messages dropped unsent, once each, and never for one sent', async () => {
      test = await startServer();
      const c = client(test.wsUrl, { reconnect: { initialDelayMs: 60_000, jitter: 0 }, sendBuffer: { maxFrames: 2, timeoutMs: 150 } });
      const lobby: RoomItem[] = [];
      c.join('lobby').subscribe((item) => lobby.push(item));
      await waitFor(c.state$, (s) => s === 'connected');
      const calls: [string, DiscardReason][] = [];
      const note = (name: string) => (reason: DiscardReason) => calls.push([name, reason]);
      expect(c.publish('lobby', 'sent', { onDiscard: note('sent') })).to.equal('sent');
      await until(() => messages(lobby).includes('sent'));

      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      expect(c.publish('lobby', 'a', { onDiscard: note('a') })).to.equal('queued');
      expect(c.direct('bob', 'b', { onDiscard: note('b') })).to.equal('queued');
      expect(c.publish('lobby', 'c', { onDiscard: note('c') })).to.equal('discarded');
      expect(calls).to.deep.equal([['c', 'full']]);
      await until(() => calls.length === 3, 2000);
      expect(calls).to.deep.equal([
        ['c', 'full'],
        ['a', 'timeout'],
        ['b', 'timeout'],
      ]);

      expect(c.publish('lobby', 'd', { onDiscard: note('d') })).to.equal('queued');
      await c.close();
      expect(c.publish('lobby', 'e', { onDiscard: note('e') })).to.equal('discarded');
      expect(calls.slice(3)).to.deep.equal([
        ['d', 'closed'],
        ['e', 'closed'],
      ]);
    });

    it('is never called for a message flushed from the buffer after the reconnect', async () => {
      test = await startServer();
      const c = client(test.wsUrl, { reconnect: { initialDelayMs: 100, jitter: 0 } });
      const lobby: RoomItem[] = [];
      c.join('lobby').subscribe((item) => lobby.push(item));
      await waitFor(c.state$, (s) => s === 'connected');
      test.dropAll();
      await waitFor(c.state$, (s) => s === 'reconnecting');
      const reasons: DiscardReason[] = [];
      expect(c.publish('lobby', 'queued', { onDiscard: (r) => reasons.push(r) })).to.equal('queued');
      expect(c.direct('ada', 'to myself', { onDiscard: (r) => reasons.push(r) })).to.equal('queued');
      const direct: DirectMessage[] = [];
      c.direct$.subscribe((m) => direct.push(m));
      await until(() => messages(lobby).includes('queued') && direct.length === 1);
      await c.close();
      expect(reasons).to.deep.equal([]);
    });

    it('refuses a callback that is not a function, and options that are not an object, with InvalidArgumentError', async () => {
      test = await startServer();
      const c = client(test.wsUrl);
      for (const options of [{ onDiscard: 'x' }, { onDiscard: 1 }, null, 'fast']) {
        expect(() => c.publish('lobby', 1, options as never), JSON.stringify(options)).to.throw(InvalidArgumentError);
        expect(() => c.direct('bob', 1, options as never), JSON.stringify(options)).to.throw(InvalidArgumentError);
      }
      expect(() => createClient({ url: test!.wsUrl, waitForOnline: 'yes' as never })).to.throw(InvalidOptionError, /waitForOnline/);
    });
  });

  describe('room access as the client sees it', () => {
    it('fails the stream of a room outside the token\'s binding with ForbiddenError and goes on in the others', async () => {
      test = await startServer({ trustClientUser: false });
      const { server } = test;
      const c = client(test.wsUrl, { user: undefined, token: () => server.tokens.issue('ada', { rooms: ['lobby', 'team:*'] }) });
      let failure: unknown;
      c.join('secret').subscribe({ error: (e: unknown) => (failure = e) });
      const team: RoomItem[] = [];
      c.join('team:red').subscribe((item) => team.push(item));
      await until(() => failure !== undefined);
      expect(failure).to.be.instanceOf(ForbiddenError).with.property('code', 'FORBIDDEN');
      const publishError = await c.publishAsync('secret', 'x').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(publishError).to.be.instanceOf(ForbiddenError);
      const history = await c.request('history', { room: 'secret' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(history).to.be.instanceOf(ForbiddenError);
      expect(await c.publishAsync('team:red', 'go')).to.be.a('number');
      await until(() => messages(team).includes('go'));
      // The binding holds across reconnects: each connection takes a new token with the same rooms.
      c.reconnect();
      await waitFor(c.state$, (s) => s === 'connected');
      expect(await c.publishAsync('team:red', 'again')).to.be.a('number');
    });

    it('refuses a second client of the same user in a unique room with RoomError USER_IN_ROOM', async () => {
      test = await startServer({ uniqueUsers: true });
      const first = client(test.wsUrl);
      const second = client(test.wsUrl);
      const firstItems: RoomItem[] = [];
      first.join('duel').subscribe((item) => firstItems.push(item));
      await until(() => firstItems.some((item) => item.type === 'join'));
      let failure: unknown;
      second.join('duel').subscribe({ error: (e: unknown) => (failure = e) });
      await until(() => failure !== undefined);
      expect(failure).to.be.instanceOf(RoomError).with.property('code', 'USER_IN_ROOM');
      expect(second.state).to.equal('connected');
    });

    for (const carrier of ['ws', 'tcp'] as const) {
      it(`resumes a unique room after reconnect(): the old connection has left it by the time the new one joins (${carrier})`, async () => {
        test = await startServer({ uniqueUsers: true });
        const c = client(carrier === 'ws' ? test.wsUrl : test.tcpUrl);
        const items: RoomItem[] = [];
        let failure: unknown;
        c.join('duel').subscribe({ next: (item) => items.push(item), error: (e: unknown) => (failure = e) });
        await waitFor(c.state$, (s) => s === 'connected');
        for (let round = 0; round < 5; round++) {
          c.reconnect();
          await waitFor(c.state$, (s) => s === 'connected');
          expect(await c.publishAsync('duel', round)).to.be.a('number');
        }
        await until(() => messages(items).length === 5);
        expect(failure).to.equal(undefined);
        expect(messages(items)).to.deep.equal([0, 1, 2, 3, 4]);
        expect(await test.server.rooms.get('duel')!.presence()).to.deep.equal([{ userId: 'ada', sessions: 1 }]);
      });
    }

    /** A server and two connected clients of one user, `got` recording which of them gets each direct. */
    async function twoRecipients() {
      test = await startServer();
      const one = client(test.wsUrl);
      const other = client(test.wsUrl);
      const got: [string, DirectMessage][] = [];
      one.direct$.subscribe((m) => got.push(['one', m]));
      other.direct$.subscribe((m) => got.push(['other', m]));
      await Promise.all([waitFor(one.state$, (s) => s === 'connected'), waitFor(other.state$, (s) => s === 'connected')]);
      return { server: test.server, one, got };
    }

    it('receives server.sendTo on direct$ of that one client only', async () => {
      const { server, one, got } = await twoRecipients();
      await until(() => server.connections().length === 2);
      // Which connection is which client: the one that asks learns its own id.
      server.handle('whoami', (_input, { connection }) => connection.id);
      const oneId = await one.request<string>('whoami');
      expect(server.connections().map((x) => x.id)).to.include(oneId);
      const id = server.sendTo(oneId, { hello: 'one' });
      await until(() => got.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(got).to.have.length(1);
      expect(got[0]![0]).to.equal('one');
      expect(got[0]![1]).to.deep.include({ id, from: '', data: { hello: 'one' } });
    });

    it('receives connection.send from a handler on direct$ of that one client, and the closed connection refuses with NOT_FOUND', async () => {
      const { server, one, got } = await twoRecipients();
      let kept: ConnectionInfo | undefined;
      server.handle('later', (input, { connection }) => {
        kept = connection;
        return connection.send({ echo: input }, { from: 'bot' });
      });
      const id = await one.request<string>('later', 7);
      await until(() => got.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(got).to.have.length(1);
      expect(got[0]![0]).to.equal('one');
      expect(got[0]![1]).to.deep.include({ id, from: 'bot', data: { echo: 7 } });
      expect(() => kept!.send(10n)).to.throw(TypeError);
      expect(() => kept!.send('x', { from: 'b'.repeat(257) })).to.throw(TypeError);
      await one.close();
      await until(() => server.connections().length === 1);
      expect(() => kept!.send('too late')).to.throw(NotFoundWireError).with.property('code', 'NOT_FOUND');
      expect(() => server.sendTo(kept!.id, 'too late')).to.throw(NotFoundWireError);
      expect(got).to.have.length(1);
    });
  });
});
