import { expect } from 'chai';
import type { HubServer, HubServerOptions } from '@msghub/transport';
import { ClientAnswerError, DisconnectedWireError, ForbiddenError as Refusal, RequestTimeoutWireError } from '@msghub/transport';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  ClientClosedError,
  DisconnectedError,
  ForbiddenError,
  OperationError,
  SendDiscardedError,
  UnknownOpError,
  createClient,
  type ClientError,
  type MsghubClient,
  type NodeClientOptions,
} from '../src/node.js';
import { fast, startServer, until, waitFor, type TestServer } from './harness.js';

// Streams, server requests, notifications and close({ drain }) of the client against the real
// @msghub/transport server on loopback, over both carriers.

/** A stream handler that records each run: items pulled, finalized (`return()` or the end), aborted. */
function countingStream(server: HubServer, op = 'count') {
  const runs: { pulled: number; finalized: boolean; aborted: boolean }[] = [];
  server.handle(op, (input, { signal }) => {
    const run = { pulled: 0, finalized: false, aborted: false };
    runs.push(run);
    signal.addEventListener('abort', () => (run.aborted = true));
    const limit = (input as { limit?: number } | null)?.limit ?? Infinity;
    return (async function* () {
      try {
        while (run.pulled < limit) {
          run.pulled++;
          yield run.pulled;
          // An unbounded stream yields to the event loop, as a real feed would.
          if (limit === Infinity) await new Promise((resolve) => setTimeout(resolve, 1));
        }
      } finally {
        run.finalized = true;
      }
    })();
  });
  return runs;
}

describe('MsghubClient calls against the real server', () => {
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

  async function connected(c: MsghubClient): Promise<void> {
    await waitFor(c.state$, (s) => s === 'connected');
  }

  /** The id of the server's only connection of `userId`. */
  function connectionOf(userId: string): string {
    const found = test.server.connections().find((c) => c.userId === userId);
    if (found === undefined) throw new Error(`no connection of ${userId}`);
    return found.id;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await test?.close();
  });

  for (const carrier of ['ws', 'tcp'] as const) {
    const urlOf = (t: TestServer): string => (carrier === 'ws' ? t.wsUrl : t.tcpUrl);

    describe(`#stream over ${carrier}`, () => {
      it('emits every item the handler yields, in order, then completes', async () => {
        const t = await serve();
        countingStream(t.server);
        const ada = client(urlOf(t));
        expect(await firstValueFrom(ada.stream<number>('count', { limit: 5 }).pipe(toArray()))).to.deep.equal([1, 2, 3, 4, 5]);
      });

      it('cancels the server side on unsubscribe: the generator is finalized and its signal aborted', async () => {
        const t = await serve();
        const runs = countingStream(t.server);
        const ada = client(urlOf(t));
        const seen = await firstValueFrom(ada.stream<number>('count').pipe(take(3), toArray()));
        expect(seen).to.deep.equal([1, 2, 3]);
        await until(() => runs[0]?.finalized === true);
        expect(runs[0]?.aborted).to.equal(true);
      });

      it('drops what the server sent for a stream before it saw the cancel: nothing reaches errors$ or another call', async () => {
        const t = await serve();
        t.server.handle('one-then-fail', async function* () {
          yield 'one';
          throw new Refusal('too late');
        });
        const ada = client(urlOf(t));
        const errors: ClientError[] = [];
        ada.errors$.subscribe((e) => errors.push(e));
        for (let i = 0; i < 5; i++) expect(await firstValueFrom(ada.stream('one-then-fail'))).to.equal('one');
        expect(await ada.request('online', { user: 'ada' })).to.equal(true);
        expect(errors).to.deep.equal([]);
      });

      it('fails with DisconnectedError when the connection drops, and the server finalizes the generator', async () => {
        const t = await serve();
        const runs = countingStream(t.server);
        const ada = client(urlOf(t));
        let failure: unknown;
        const items: number[] = [];
        ada.stream<number>('count').subscribe({ next: (n) => items.push(n), error: (e: unknown) => (failure = e) });
        await until(() => items.length >= 3);
        t.dropAll();
        await until(() => failure !== undefined);
        expect(failure).to.be.instanceOf(DisconnectedError);
        await until(() => runs[0]?.finalized === true);
        expect(items).to.deep.equal(Array.from({ length: items.length }, (_, i) => i + 1));
      });

      it('fails with the typed error the server answers: UNKNOWN_OP, a thrown FORBIDDEN, TOO_MANY_STREAMS', async () => {
        const t = await serve({ maxStreams: 1 });
        countingStream(t.server);
        t.server.handle('refused', async function* () {
          yield 'one';
          throw new Refusal('not yours');
        });
        const ada = client(urlOf(t));
        const unknown = await firstValueFrom(ada.stream('nothing')).catch((e: unknown) => e);
        expect(unknown).to.be.instanceOf(UnknownOpError).with.property('code', 'UNKNOWN_OP');
        const items: unknown[] = [];
        const refused = await new Promise((resolve) => ada.stream('refused').subscribe({ next: (x) => items.push(x), error: resolve }));
        expect(refused).to.be.instanceOf(ForbiddenError);
        expect(items).to.deep.equal(['one']);
        const first = ada.stream('count').subscribe();
        const second = await firstValueFrom(ada.stream('count')).catch((e: unknown) => e);
        expect(second).to.be.instanceOf(OperationError).with.property('code', 'TOO_MANY_STREAMS');
        first.unsubscribe();
      });
    });

    describe(`#handle over ${carrier}`, () => {
      it('answers server requests by op; UNKNOWN_OP, a thrown code or INTERNAL otherwise', async () => {
        const t = await serve();
        const ada = client(urlOf(t));
        ada.handle('viewport', (data) => ({ asked: data, width: 800 }));
        ada.handle('quota', () => {
          throw Object.assign(new Error('over quota'), { code: 'QUOTA_EXCEEDED' });
        });
        ada.handle('bug', async () => {
          throw new TypeError('oops');
        });
        ada.handle('bigint', () => 1n);
        await connected(ada);
        const id = connectionOf('ada');
        expect(await t.server.request(id, 'viewport', 'px')).to.deep.equal({ asked: 'px', width: 800 });
        const unknown = await t.server.request(id, 'nothing').catch((e: unknown) => e);
        expect(unknown).to.be.instanceOf(ClientAnswerError).and.include({ code: 'UNKNOWN_OP' });
        const quota = await t.server.request(id, 'quota').catch((e: unknown) => e);
        expect(quota).to.be.instanceOf(ClientAnswerError).and.include({ code: 'INTERNAL', clientCode: 'QUOTA_EXCEEDED', message: 'over quota' });
        const bug = await t.server.request(id, 'bug').catch((e: unknown) => e);
        expect(bug).to.be.instanceOf(ClientAnswerError).and.include({ clientCode: 'INTERNAL' });
        const bigint = await t.server.request(id, 'bigint').catch((e: unknown) => e);
        expect(bigint).to.be.instanceOf(ClientAnswerError).and.include({ clientCode: 'INTERNAL' });
        // The connection survived all of it.
        expect(await t.server.request(id, 'viewport', 1)).to.deep.equal({ asked: 1, width: 800 });
      });

      it('answers a request the server sends from its onConnect hook, on every connection', async () => {
        const answers: unknown[] = [];
        const t = await serve({
          onConnect: (connection) => void connection.request('version').then((v) => answers.push(v), (e: unknown) => answers.push(e)),
        });
        const ada = client(urlOf(t), { reconnect: { initialDelayMs: 50, jitter: 0 } });
        ada.handle('version', () => '1.2.3');
        await until(() => answers.length === 1);
        t.dropAll();
        await until(() => answers.length === 2);
        expect(answers).to.deep.equal(['1.2.3', '1.2.3']);
      });

      it('lets the server time out a slow handler, and fail a request whose connection drops', async () => {
        const t = await serve();
        const ada = client(urlOf(t), { reconnect: { initialDelayMs: 200, jitter: 0 } });
        ada.handle('slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 300)));
        await connected(ada);
        const id = connectionOf('ada');
        const timedOut = await t.server.request(id, 'slow', null, { timeoutMs: 50 }).catch((e: unknown) => e);
        expect(timedOut).to.be.instanceOf(RequestTimeoutWireError);
        const dropped = t.server.request(id, 'slow').catch((e: unknown) => e);
        await new Promise((resolve) => setTimeout(resolve, 20));
        t.dropAll();
        expect(await dropped).to.be.instanceOf(DisconnectedWireError);
      });
    });

    describe(`notifications over ${carrier}`, () => {
      it('carries named notifications both ways', async () => {
        const t = await serve();
        const received: [unknown, string][] = [];
        t.server.onNotify('cursor', (data, { connection }) => void received.push([data, connection.userId]));
        const ada = client(urlOf(t));
        const errors: ClientError[] = [];
        ada.errors$.subscribe((e) => errors.push(e));
        const news = firstValueFrom(ada.notifications<string>('news').pipe(take(2), toArray()));
        await connected(ada);
        expect(ada.notify('cursor', { x: 3 })).to.equal('sent');
        expect(ada.notify('unheard', 1)).to.equal('sent');
        await until(() => received.length === 1 && errors.length === 1);
        expect(received).to.deep.equal([[{ x: 3 }, 'ada']]);
        expect(errors[0]).to.be.instanceOf(UnknownOpError).with.property('frame', 'notify');
        const id = connectionOf('ada');
        t.server.notify(id, 'other', 'not news');
        t.server.notify(id, 'news', 'first');
        t.server.notify(id, 'news', 'second');
        expect(await news).to.deep.equal(['first', 'second']);
      });
    });
  }

  it('streams every item in order over a WebSocket with permessage-deflate, where compression paces the writes', async () => {
    const t = await serve({ perMessageDeflate: true, maxQueuedBytes: 256 * 1024 });
    t.server.handle('pages', async function* () {
      for (let n = 1; n <= 2000; n++) yield { n, text: `item ${n} `.repeat(200) };
    });
    const ada = client(t.wsUrl);
    const items = await firstValueFrom(ada.stream<{ n: number }>('pages').pipe(toArray()));
    expect(items.map((item) => item.n)).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i + 1));
  });

  describe('#stream while disconnected', () => {
    it('keeps the request in the send buffer, and cancels it right after it is written when unsubscribed meanwhile', async () => {
      const t = await serve();
      const runs = countingStream(t.server);
      const ada = client(t.wsUrl, { reconnect: { initialDelayMs: 150, jitter: 0 } });
      await connected(ada);
      t.dropAll();
      await waitFor(ada.state$, (s) => s === 'reconnecting');
      const kept: number[] = [];
      ada.stream<number>('count', { limit: 3 }).subscribe((n) => kept.push(n));
      const dropped = ada.stream<number>('count').subscribe();
      dropped.unsubscribe();
      await connected(ada);
      await until(() => kept.length === 3 && runs.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const abandoned = runs.find((run) => run.pulled !== 3);
      const pulled = abandoned?.pulled;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(abandoned?.pulled).to.equal(pulled);
      expect(abandoned?.pulled === 0 || abandoned?.finalized).to.equal(true);
    });

    it('fails with SendDiscardedError when the buffer takes nothing', async () => {
      const t = await serve();
      const ada = client(t.wsUrl, { sendBuffer: { maxFrames: 0 } });
      const failure = await firstValueFrom(ada.stream('count')).catch((e: unknown) => e);
      expect(failure).to.be.instanceOf(SendDiscardedError).with.property('reason', 'full');
    });
  });

  describe('#close({ drain: true })', () => {
    it('waits for pending publishes and requests, and for the send buffer to flush, then closes', async () => {
      const t = await serve();
      let release: (() => void) | undefined;
      t.server.handle('slow', () => new Promise((resolve) => (release = () => resolve('done'))));
      const ada = client(t.wsUrl, { reconnect: { initialDelayMs: 150, jitter: 0 } });
      const lobby: unknown[] = [];
      ada.join('lobby').subscribe((item) => lobby.push(item));
      await connected(ada);
      const slow = ada.request('slow');
      await until(() => release !== undefined);
      t.dropAll();
      await waitFor(ada.state$, (s) => s === 'reconnecting');
      // Lost with the connection: its outcome is unknown, not waited for.
      expect(await slow.catch((e: unknown) => e)).to.be.instanceOf(DisconnectedError);
      release = undefined;
      const queued = ada.publishAsync('lobby', 'queued while away');
      expect(queued.status).to.equal('queued');
      const asked = ada.request('slow');
      const closing = ada.close({ drain: true, timeoutMs: 5000 });
      // New calls are refused while draining.
      expect(ada.publish('lobby', 'too late')).to.equal('discarded');
      expect(await ada.request('slow').catch((e: unknown) => e)).to.be.instanceOf(ClientClosedError);
      await until(() => release !== undefined);
      (release as (() => void) | undefined)?.();
      const id = await queued;
      expect(await asked).to.equal('done');
      await closing;
      expect(ada.state).to.equal('disconnected');
      expect(typeof id).to.equal('number');
      const events = await firstValueFrom(t.server.rooms.get('lobby')!.history().pipe(toArray()));
      const messages = events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
      expect(messages).to.deep.equal(['queued while away']);
    });

    it('fails what is still in flight after its timeout as a plain close does, and ends running streams', async () => {
      const t = await serve();
      t.server.handle('never', () => new Promise(() => {}));
      const runs = countingStream(t.server);
      const ada = client(t.tcpUrl);
      await connected(ada);
      let streamError: unknown;
      ada.stream('count').subscribe({ error: (e: unknown) => (streamError = e) });
      const pending = ada.request('never').catch((e: unknown) => e);
      await until(() => runs.length === 1);
      await ada.close({ drain: true, timeoutMs: 100 });
      expect(await pending).to.be.instanceOf(ClientClosedError);
      expect(streamError).to.be.instanceOf(ClientClosedError);
      await until(() => runs[0]?.finalized === true);
    });

    it('is ended at once by a close without drain', async () => {
      const t = await serve();
      t.server.handle('never', () => new Promise(() => {}));
      const ada = client(t.wsUrl);
      await connected(ada);
      const pending = ada.request('never').catch((e: unknown) => e);
      const draining = ada.close({ drain: true, timeoutMs: 60_000 });
      await ada.close();
      await draining;
      expect(await pending).to.be.instanceOf(ClientClosedError);
    });

    it('without drain rejects pending requests and discards the send buffer, as before', async () => {
      const t = await serve();
      const ada = client(t.wsUrl);
      const queued = ada.publishAsync('lobby', 'never sent');
      expect(queued.status).to.equal('queued');
      await ada.close();
      expect(await queued.catch((e: unknown) => e)).to.be.instanceOf(SendDiscardedError);
    });
  });
});
