import { expect } from 'chai';
import { MemoryStore } from '@msghub/messagehub';
import type { HubServerOptions } from '@msghub/transport';
import { skipWhile } from 'rxjs';
import { createClient as createBrowserClient } from '../src/index.js';
import {
  InvalidOptionError,
  autoConnector,
  createClient,
  httpConnector,
  MsghubClient,
  type ConnectionState,
  type NodeClientOptions,
  type RoomItem,
} from '../src/node.js';
import { fast, startServer, until, waitFor, type TestServer } from './harness.js';

// The HTTP carrier's connector and the carrier choice against the real server on loopback.

describe('HTTP carrier (client)', () => {
  let test: TestServer | undefined;
  const clients: MsghubClient[] = [];

  async function serve(options: HubServerOptions = {}, websocket = true): Promise<TestServer> {
    test = await startServer(options, undefined, { websocket });
    return test;
  }

  /** Shuts the server down (clients get `bye` SHUTDOWN) and starts a new one on the same port. */
  async function restart(websocket: boolean, options: HubServerOptions = {}): Promise<TestServer> {
    const { ports } = test!;
    await test!.close();
    test = await startServer(options, ports, { websocket });
    return test;
  }

  function client(url: string, options: Omit<NodeClientOptions, 'url'> = {}): MsghubClient {
    const made = createClient({ url, user: 'ada', reconnect: fast, ...options });
    clients.push(made);
    return made;
  }

  function record(c: MsghubClient, room: string) {
    const items: RoomItem[] = [];
    c.join(room).subscribe({ next: (item) => items.push(item) });
    return {
      items,
      messages: () => items.flatMap((item) => (item.type === 'message' ? [item.message] : [])),
      ids: () => items.flatMap((item) => (item.type === 'gap' ? [] : [item.id])),
    };
  }

  function reconnected(c: MsghubClient): Promise<ConnectionState> {
    return waitFor(c.state$.pipe(skipWhile((s) => s !== 'reconnecting')), (s) => s === 'connected', 10_000);
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await test?.close();
    test = undefined;
  });

  describe('httpConnector', () => {
    it('throws InvalidOptionError for a URL that is not http:// or https://, and for bad options', () => {
      expect(() => httpConnector('ws://127.0.0.1/')).to.throw(InvalidOptionError);
      expect(() => httpConnector('http://127.0.0.1/', { reopenAttempts: -1 })).to.throw(InvalidOptionError);
      expect(() => httpConnector('http://127.0.0.1/', { ackDelayMs: Number.NaN })).to.throw(InvalidOptionError);
      expect(() => httpConnector('http://127.0.0.1/', { headers: 'x' as unknown as Record<string, string> })).to.throw(InvalidOptionError);
    });

    it('carries rooms, acknowledged publishes, requests and direct messages, and says it is on http', async () => {
      const { httpUrl, wsUrl } = await serve();
      const ada = new MsghubClient({ connector: httpConnector(`${httpUrl}/hub`), user: 'ada', reconnect: fast });
      clients.push(ada);
      const bob = client(wsUrl, { user: 'bob', carrier: 'websocket' });
      const carriers: (string | undefined)[] = [];
      ada.carrier$.subscribe((carrier) => carriers.push(carrier));
      const seenByAda = record(ada, 'lobby');
      const seenByBob = record(bob, 'lobby');
      await Promise.all([waitFor(ada.state$, (s) => s === 'connected'), waitFor(bob.state$, (s) => s === 'connected')]);
      expect(ada.carrier).to.equal('http');
      expect(bob.carrier).to.equal('websocket');
      expect(carriers).to.deep.equal([undefined, 'http']);
      const id = await ada.publishAsync('lobby', 'from http');
      bob.publish('lobby', 'from websocket');
      await until(() => seenByAda.messages().length === 2 && seenByBob.messages().length === 2);
      expect(seenByAda.messages()).to.deep.equal(['from http', 'from websocket']);
      expect(seenByBob.messages()).to.deep.equal(['from http', 'from websocket']);
      expect(seenByAda.ids()).to.include(id);
      expect(await ada.request('online', { user: 'bob' })).to.equal(true);
      const direct = waitFor(ada.direct$, () => true);
      await bob.directAsync('ada', 'psst');
      expect(await direct).to.include({ from: 'bob', data: 'psst' });
      expect(test!.server.connections().map((c) => `${c.userId} ${c.carrier}`).sort()).to.deep.equal(['ada http', 'bob ws']);
    });

    it('carries the streaming and server-request frames too: a stream of results, a server request and its answer, a notification', async () => {
      const { wsUrl, server } = await serve();
      server.handle('count', (input) => ({
        async *[Symbol.asyncIterator]() {
          for (let i = 0; i < (input as { n: number }).n; i++) yield i;
        },
      }));
      const notified: unknown[] = [];
      server.onNotify('cursor', (data) => {
        notified.push(data);
      });
      const ada = client(wsUrl, { carrier: 'http' });
      ada.handle('viewport', () => ({ width: 800 }));
      await waitFor(ada.state$, (s) => s === 'connected');
      const results: unknown[] = [];
      await new Promise<void>((resolve, reject) => ada.stream('count', { n: 4 }).subscribe({ next: (v) => results.push(v), error: reject, complete: resolve }));
      expect(results).to.deep.equal([0, 1, 2, 3]);
      const id = server.connections()[0]?.id as string;
      expect(await server.request(id, 'viewport', undefined, { timeoutMs: 5000 })).to.deep.equal({ width: 800 });
      ada.notify('cursor', { x: 1 });
      await until(() => notified.length === 1);
      expect(notified).to.deep.equal([{ x: 1 }]);
      expect(ada.carrier).to.equal('http');
    });

    it('receives direct messages queued while offline once, acknowledging them over HTTP', async () => {
      const { wsUrl } = await serve();
      const bob = client(wsUrl, { user: 'bob', carrier: 'websocket' });
      await waitFor(bob.state$, (s) => s === 'connected');
      await bob.directAsync('ada', 'while you were away');
      const first = client(wsUrl, { carrier: 'http' });
      const got: unknown[] = [];
      first.direct$.subscribe((m) => got.push(m.data));
      await until(() => got.length === 1);
      expect(first.carrier).to.equal('http');
      // Acknowledged (in a POST before the bye's): a later connection does not get it again.
      await first.close();
      const second = client(wsUrl, { carrier: 'http' });
      const again: unknown[] = [];
      second.direct$.subscribe((m) => again.push(m.data));
      await waitFor(second.state$, (s) => s === 'connected');
      await bob.directAsync('ada', 'now');
      await until(() => again.length === 1);
      expect(got).to.deep.equal(['while you were away']);
      expect(again).to.deep.equal(['now']);
    });

    it('opens the stream again when it drops, so the connection goes on with nothing lost or repeated', async () => {
      const { httpUrl, server } = await serve();
      const ada = new MsghubClient({ connector: httpConnector(`${httpUrl}/hub`), user: 'ada', reconnect: fast });
      clients.push(ada);
      const states: ConnectionState[] = [];
      ada.state$.subscribe((s) => states.push(s));
      const lobby = record(ada, 'lobby');
      await waitFor(ada.state$, (s) => s === 'connected');
      const hub = server.rooms.get('lobby')!;
      const total = 200;
      for (let i = 0; i < total; i++) {
        await hub.message('bot', i);
        // Cuts every socket: the stream and any POST in flight; the server keeps the connection.
        if (i === 60 || i === 140) test!.dropAll();
        if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await until(() => lobby.messages().length >= total);
      expect(lobby.messages()).to.deep.equal(Array.from({ length: total }, (_, i) => i));
      const ids = lobby.ids();
      expect(new Set(ids).size).to.equal(ids.length);
      expect(ids).to.deep.equal([...ids].sort((a, b) => a - b));
      // The same connection all along: the stream was opened again, not the connection.
      expect(states).to.deep.equal(['connecting', 'connected']);
      expect(server.metrics().connections).to.equal(1);
    });
  });

  describe('carrier choice', () => {
    it('validates its options', () => {
      expect(() => autoConnector('tcp://127.0.0.1:1')).to.throw(InvalidOptionError);
      expect(() => autoConnector('ws://127.0.0.1/', { carrier: 'smoke' as 'auto' })).to.throw(InvalidOptionError);
      expect(() => autoConnector('ws://127.0.0.1/', { webSocketFailures: 0 })).to.throw(InvalidOptionError);
      expect(() => autoConnector('ws://127.0.0.1/', { retryWebSocketAfterMs: -1 })).to.throw(InvalidOptionError);
      expect(() => createClient({ url: 'ws://127.0.0.1/', carrier: 'smoke' as 'auto' })).to.throw(InvalidOptionError);
    });

    it('uses WebSocket while it works', async () => {
      const { wsUrl } = await serve();
      const ada = client(wsUrl);
      await waitFor(ada.state$, (s) => s === 'connected');
      expect(ada.carrier).to.equal('websocket');
    });

    it('falls back to HTTP after two refused upgrades, and keeps rooms, ids and the send buffer', async () => {
      const { wsUrl } = await serve({}, false);
      const errors: string[] = [];
      const ada = client(wsUrl);
      ada.errors$.subscribe((e) => errors.push(e.code));
      const lobby = record(ada, 'lobby');
      const queued = ada.publishAsync('lobby', 'sent while connecting');
      expect(queued.status).to.equal('queued');
      await waitFor(ada.state$, (s) => s === 'connected');
      expect(ada.carrier).to.equal('http');
      expect(errors).to.deep.equal(['CONNECTION_FAILED', 'CONNECTION_FAILED']);
      const id = await queued;
      await until(() => lobby.messages().length === 1);
      expect(lobby.ids()).to.include(id);
    });

    it('with carrier: websocket never falls back', async () => {
      const { wsUrl } = await serve({}, false);
      const ada = client(wsUrl, { carrier: 'websocket', reconnect: { ...fast, maxAttempts: 4 } });
      const states: ConnectionState[] = [];
      ada.state$.subscribe((s) => states.push(s));
      await waitFor(ada.state$, (s) => s === 'disconnected', 10_000);
      expect(states).to.not.include('connected');
    });

    it('with carrier: http never tries WebSocket', async () => {
      const { wsUrl, server } = await serve();
      const ada = client(wsUrl, { carrier: 'http' });
      await waitFor(ada.state$, (s) => s === 'connected');
      expect(ada.carrier).to.equal('http');
      expect(server.connections()[0]?.carrier).to.equal('http');
    });

    it('uses HTTP at once where there is no WebSocket (the browser entry in Node 20)', async () => {
      const { wsUrl } = await serve();
      expect((globalThis as { WebSocket?: unknown }).WebSocket).to.equal(undefined);
      const ada = createBrowserClient({ url: wsUrl, user: 'ada', reconnect: fast });
      clients.push(ada);
      const errors: unknown[] = [];
      ada.errors$.subscribe((e) => errors.push(e));
      await waitFor(ada.state$, (s) => s === 'connected');
      expect(ada.carrier).to.equal('http');
      expect(errors).to.deep.equal([]);
    });

    it('survives a server restart on HTTP: messages before and after, each once, in order', async () => {
      // One store across the restart, as the main job's event log is.
      const store = new MemoryStore();
      const { wsUrl } = await serve({ store }, false);
      const ada = client(wsUrl);
      const bob = client(wsUrl, { user: 'bob', carrier: 'http' });
      const seen = record(ada, 'lobby');
      record(bob, 'lobby');
      await Promise.all([waitFor(ada.state$, (s) => s === 'connected'), waitFor(bob.state$, (s) => s === 'connected')]);
      for (let i = 0; i < 5; i++) await bob.publishAsync('lobby', `before ${i}`);
      const back = reconnected(ada);
      const { ports } = test!;
      await test!.close();
      await waitFor(ada.state$, (s) => s === 'reconnecting');
      const during = ada.publishAsync('lobby', 'during');
      expect(during.status).to.equal('queued');
      test = await startServer({ store }, ports, { websocket: false });
      await back;
      expect(ada.carrier).to.equal('http');
      await during;
      for (let i = 0; i < 5; i++) await bob.publishAsync('lobby', `after ${i}`);
      await until(() => seen.messages().includes('after 4'));
      const messages = seen.messages();
      expect(new Set(messages).size).to.equal(messages.length);
      expect(messages.filter((m) => String(m).startsWith('before'))).to.deep.equal([0, 1, 2, 3, 4].map((i) => `before ${i}`));
      expect(messages.filter((m) => String(m).startsWith('after'))).to.deep.equal([0, 1, 2, 3, 4].map((i) => `after ${i}`));
      expect(messages).to.include('during');
      expect(seen.items.filter((item) => item.type === 'gap')).to.deep.equal([]);
      const ids = seen.ids();
      expect(ids).to.deep.equal(ids.map((_, i) => (ids[0] as number) + i));
    });

    it('tries WebSocket again on a reconnect once retryWebSocketAfterMs has passed', async () => {
      const { wsUrl } = await serve({}, false);
      const ada = client(wsUrl, { fallback: { retryWebSocketAfterMs: 300 } });
      await waitFor(ada.state$, (s) => s === 'connected');
      expect(ada.carrier).to.equal('http');
      // Connected over HTTP, the client stays there: the retry waits for the next reconnect.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(ada.carrier).to.equal('http');
      const back = reconnected(ada);
      await restart(true);
      await back;
      expect(ada.carrier).to.equal('websocket');
    });
  });
});
