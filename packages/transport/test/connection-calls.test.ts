import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import {
  ClientAnswerError,
  DisconnectedWireError,
  ForbiddenError,
  NotFoundWireError,
  RequestTimeoutWireError,
  TcpFrameDecoder,
  encodeTcpFrames,
  type HubServer,
} from '../src/index.js';
import { cleanup, delay, startServer, type TestClient } from './helpers.js';

type Frame = Record<string, unknown>;

/** A stream handler whose every run is recorded: how far it got, whether it was finalized and aborted. */
function countingStream(server: HubServer, op = 'count', limit = Infinity) {
  const runs: { pulled: number; finalized: boolean; aborted: boolean }[] = [];
  server.handle(op, (input, { signal }) => {
    const run = { pulled: 0, finalized: false, aborted: false };
    runs.push(run);
    signal.addEventListener('abort', () => (run.aborted = true));
    const size = (input as { size?: number } | null)?.size ?? 0;
    return (async function* () {
      try {
        while (run.pulled < limit) {
          run.pulled++;
          yield size > 0 ? { n: run.pulled, pad: 'x'.repeat(size) } : run.pulled;
        }
      } finally {
        run.finalized = true;
      }
    })();
  });
  return runs;
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('Timed out waiting for a condition');
    await delay(5);
  }
}

function items(client: TestClient, ref: unknown): unknown[] {
  return client.frames.filter((f) => f.type === 'response' && f['ref'] === ref).map((f) => f['data']);
}

describe('connection calls', () => {
  afterEach(cleanup);

  for (const carrier of ['ws', 'tcp'] as const) {
    describe(`streams over ${carrier}`, () => {
      it('sends one response with more:true per item, then end', async () => {
        const running = await startServer();
        countingStream(running.server, 'count', 3);
        const ada = await running.user('ada', carrier);
        ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
        const end = await ada.next('end');
        expect(end).to.deep.equal({ type: 'end', ref: 1 });
        const responses = ada.frames.filter((f) => f.type === 'response');
        expect(responses).to.deep.equal([1, 2, 3].map((data) => ({ type: 'response', ref: 1, data, more: true })));
      });

      it('stops pulling on cancel: the iterator is finalized and the signal aborted', async () => {
        const running = await startServer();
        const runs = countingStream(running.server);
        const ada = await running.user('ada', carrier);
        ada.send({ type: 'request', ref: 's', op: 'count', stream: true });
        await ada.waitFor((f) => f.type === 'response' && f['data'] === 10);
        ada.send({ type: 'cancel', ref: 's' });
        await until(() => runs[0]?.finalized === true);
        expect(runs[0]?.aborted).to.equal(true);
        const pulled = runs[0]?.pulled ?? 0;
        ada.send({ type: 'ping', ts: 1 });
        await ada.next('pong');
        expect(runs[0]?.pulled).to.equal(pulled);
        // The cancel is answered with the stream's last frame, once, after every item it sent.
        const ends = ada.frames.filter((f) => f.type === 'end');
        expect(ends).to.deep.equal([{ type: 'end', ref: 's' }]);
        expect(ada.frames.findIndex((f) => f.type === 'end')).to.be.above(ada.frames.findLastIndex((f) => f.type === 'response'));
        // The stream's slot is free again.
        ada.send({ type: 'request', ref: 's', op: 'count', stream: true });
        await ada.waitFor((f) => f.type === 'response' && f['ref'] === 's' && f['data'] === 1 && runs.length === 2);
      });

      it('ends a failing stream with the typed error of what the handler threw', async () => {
        const running = await startServer();
        running.server.handle('fails', async function* () {
          yield 'first';
          throw new ForbiddenError('no more for you');
        });
        const ada = await running.user('ada', carrier);
        ada.send({ type: 'request', ref: 2, op: 'fails', stream: true });
        expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', ref: 2, frame: 'request' });
        expect(items(ada, 2)).to.deep.equal(['first']);
      });

      for (const [how, end] of [
        ['the client disconnects', async (ada: TestClient) => ada.close()],
        ['the client says bye', async (ada: TestClient) => ada.send({ type: 'bye' })],
        ['the user is kicked', async (_ada: TestClient, server: HubServer) => void server.kick('ada')],
        ['the server shuts down', async (_ada: TestClient, server: HubServer) => server.close()],
      ] as const) {
        it(`finalizes every running stream when ${how}`, async () => {
          const running = await startServer();
          const runs = countingStream(running.server);
          running.server.handle('forever', (_input, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve('aborted'))));
          const ada = await running.user('ada', carrier);
          ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
          ada.send({ type: 'request', ref: 2, op: 'count', stream: true });
          await ada.waitFor((f) => f.type === 'response' && f['ref'] === 2 && f['data'] === 5);
          await end(ada, running.server);
          await until(() => runs.length === 2 && runs.every((run) => run.finalized && run.aborted));
        });
      }
    });
  }

  it('finalizes the streams of a connection the heartbeat gives up on, and pulls nothing after', async () => {
    const running = await startServer({ heartbeatMs: 50, pongTimeoutMs: 50 });
    const runs = countingStream(running.server);
    const ada = await running.user('ada', 'tcp');
    ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
    // ada never answers a ping: the server ends the connection.
    await until(() => runs[0]?.finalized === true, 5000);
    const pulled = runs[0]?.pulled;
    await delay(100);
    expect(runs[0]?.pulled).to.equal(pulled);
    expect(runs[0]?.aborted).to.equal(true);
  });

  it('pulls no more items while a TCP client does not read, and goes on once it reads again', async () => {
    const running = await startServer({ maxQueuedBytes: 64 * 1024, writeTimeoutMs: 0 });
    const runs = countingStream(running.server);
    const socket: Socket = connect(running.tcpPort, '127.0.0.1');
    const decoder = new TcpFrameDecoder(4 * 1024 * 1024);
    const received: Frame[] = [];
    socket.on('data', (chunk) => {
      for (const text of decoder.push(chunk)) received.push(JSON.parse(text) as Frame);
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(encodeTcpFrames([JSON.stringify({ type: 'hello', v: 1, user: 'slow' })]));
    await until(() => received.some((f) => f.type === 'welcome'));
    socket.pause();
    socket.write(encodeTcpFrames([JSON.stringify({ type: 'request', ref: 1, op: 'count', stream: true, data: { size: 1024 } })]));
    // The server writes until the kernel's buffers are full, then the stream waits.
    let last = -1;
    await until(() => {
      const pulled = runs[0]?.pulled ?? 0;
      const still = pulled > 0 && pulled === last;
      last = pulled;
      return still;
    }, 20_000).catch(() => undefined);
    await delay(300);
    const plateau = runs[0]?.pulled ?? 0;
    await delay(300);
    expect(plateau).to.be.above(0);
    expect(runs[0]?.pulled, 'items pulled while the client read nothing').to.equal(plateau);
    expect(runs[0]?.finalized).to.equal(false);
    socket.resume();
    await until(() => received.filter((f) => f.type === 'response').length > plateau + 100, 20_000);
    const numbers = received.filter((f) => f.type === 'response').map((f) => (f['data'] as { n: number }).n);
    expect(numbers.slice(0, 1000)).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(received.some((f) => f.type === 'bye')).to.equal(false);
    socket.destroy();
    await until(() => runs[0]?.finalized === true);
  });

  it('lets other work run while a stream whose items a beforeSend hook drops never fills the queue', async () => {
    const running = await startServer({ beforeSend: (frame) => (frame.type === 'response' ? null : frame) });
    const runs = countingStream(running.server);
    const ada = await running.user('ada', 'tcp');
    const bob = await running.user('bob', 'tcp');
    ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
    await until(() => (runs[0]?.pulled ?? 0) > 1000);
    bob.send({ type: 'ping', ts: 7 });
    expect(await bob.next('pong')).to.include({ ts: 7 });
    ada.send({ type: 'cancel', ref: 1 });
    expect(await ada.next('end')).to.include({ ref: 1 });
    await until(() => runs[0]?.finalized === true);
  });

  it('refuses a stream past maxStreams with TOO_MANY_STREAMS, and takes one again once a slot is free', async () => {
    const running = await startServer({ maxStreams: 2 });
    const runs = countingStream(running.server);
    const ada = await running.user('ada', 'tcp');
    ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
    ada.send({ type: 'request', ref: 2, op: 'count', stream: true });
    ada.send({ type: 'request', ref: 3, op: 'count', stream: true });
    expect(await ada.next('error')).to.include({ code: 'TOO_MANY_STREAMS', ref: 3, frame: 'request' });
    expect(runs).to.have.length(2);
    // A plain request is not a stream: it is answered at once.
    ada.send({ type: 'request', ref: 4, op: 'online', data: { user: 'ada' } });
    await ada.waitFor((f) => f.type === 'response' && f['ref'] === 4 && f['data'] === true);
    ada.send({ type: 'cancel', ref: 1 });
    ada.send({ type: 'request', ref: 5, op: 'count', stream: true });
    await ada.waitFor((f) => f.type === 'response' && f['ref'] === 5);
    expect(runs[0]?.finalized).to.equal(true);
  });

  it('answers a plain request for a streaming op with STREAM_REQUIRED and finalizes the stream it got', async () => {
    const running = await startServer();
    const calls: string[] = [];
    running.server.handle('ticks', () => ({
      [Symbol.asyncIterator]() {
        return {
          next: async () => (calls.push('next'), { done: false, value: 1 }),
          return: async () => (calls.push('return'), { done: true, value: undefined }),
        };
      },
    }));
    const ada = await running.user('ada');
    ada.send({ type: 'request', ref: 1, op: 'ticks' });
    expect(await ada.next('error')).to.include({ code: 'STREAM_REQUIRED', ref: 1 });
    expect(calls).to.deep.equal(['return']);
  });

  it('answers a stream request for an op that returns one value with that one response, without more', async () => {
    const running = await startServer();
    const ada = await running.user('ada');
    ada.send({ type: 'request', ref: 1, op: 'online', data: { user: 'ada' }, stream: true });
    expect(await ada.next('response')).to.deep.equal({ type: 'response', ref: 1, data: true });
  });

  it('ignores a cancel for a ref that names no running stream', async () => {
    const running = await startServer();
    const ada = await running.user('ada');
    ada.send({ type: 'cancel', ref: 99 });
    ada.send({ type: 'ping', ts: 1 });
    await ada.next('pong');
    expect(ada.frames.filter((f) => f.type === 'error')).to.deep.equal([]);
  });

  it('refuses a second stream with the ref of a running one', async () => {
    const running = await startServer();
    countingStream(running.server);
    const ada = await running.user('ada');
    ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
    await ada.next('response');
    ada.send({ type: 'request', ref: 1, op: 'count', stream: true });
    expect(await ada.next('error')).to.include({ code: 'INVALID_FIELD', ref: 1 });
  });

  it('answers an item JSON cannot encode with INTERNAL and stops the stream', async () => {
    const errors: unknown[] = [];
    const running = await startServer({ onError: (error) => errors.push(error) });
    let finalized = false;
    running.server.handle('bigint', async function* () {
      try {
        yield 1;
        yield 2n;
        yield 3;
      } finally {
        finalized = true;
      }
    });
    const ada = await running.user('ada');
    ada.send({ type: 'request', ref: 1, op: 'bigint', stream: true });
    expect(await ada.next('error')).to.include({ code: 'INTERNAL', ref: 1 });
    await until(() => finalized);
    expect(items(ada, 1)).to.deep.equal([1]);
    expect(errors).to.have.length(1);
  });

  for (const carrier of ['ws', 'tcp'] as const) {
    describe(`server requests over ${carrier}`, () => {
      it('resolves with the client response, and fails with the code of its error answer', async () => {
        const running = await startServer();
        const ada = await running.user('ada', carrier);
        const { id } = running.server.connections()[0]!;
        const answer = running.server.request(id, 'viewport', { unit: 'px' });
        const request = await ada.next('request');
        expect(request).to.include({ op: 'viewport' }).and.deep.include({ data: { unit: 'px' } });
        ada.send({ type: 'response', ref: request['ref'], data: { width: 800 } });
        expect(await answer).to.deep.equal({ width: 800 });

        const refused = running.server.request(id, 'other').catch((error: unknown) => error);
        const second = await ada.next('request');
        ada.send({ type: 'error', ref: second['ref'], code: 'UNKNOWN_OP', message: 'no handler' });
        const error = await refused;
        expect(error).to.be.instanceOf(ClientAnswerError).and.include({ code: 'UNKNOWN_OP', clientCode: 'UNKNOWN_OP' });

        const own = running.server.request(id, 'app').catch((e: unknown) => e);
        const third = await ada.next('request');
        ada.send({ type: 'error', ref: third['ref'], code: 'QUOTA_EXCEEDED' });
        expect(await own).to.be.instanceOf(ClientAnswerError).and.include({ code: 'INTERNAL', clientCode: 'QUOTA_EXCEEDED' });
      });

      it('fails with REQUEST_TIMEOUT when the client does not answer in time, and ignores the late answer', async () => {
        const running = await startServer();
        const ada = await running.user('ada', carrier);
        const { id } = running.server.connections()[0]!;
        const error = await running.server.request(id, 'slow', undefined, { timeoutMs: 50 }).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(RequestTimeoutWireError).and.have.property('code', 'REQUEST_TIMEOUT');
        const request = await ada.next('request');
        ada.send({ type: 'response', ref: request['ref'], data: 'late' });
        ada.send({ type: 'ping', ts: 1 });
        await ada.next('pong');
        expect(ada.frames.filter((f) => f.type === 'error')).to.deep.equal([]);
      });

      it('fails pending requests with DISCONNECTED when the connection ends', async () => {
        const running = await startServer();
        const ada = await running.user('ada', carrier);
        const { id } = running.server.connections()[0]!;
        const pending = running.server.request(id, 'never').catch((e: unknown) => e);
        await ada.next('request');
        ada.close();
        expect(await pending).to.be.instanceOf(DisconnectedWireError).and.have.property('code', 'DISCONNECTED');
        expect(await running.server.request(id, 'again').catch((e: unknown) => e)).to.be.instanceOf(NotFoundWireError);
      });
    });
  }

  it('rejects a request to a connection id it does not hold with NOT_FOUND, and throws for a bad op or timeout', async () => {
    const running = await startServer();
    await running.user('ada');
    const { id } = running.server.connections()[0]!;
    const error = await running.server.request('not-a-connection', 'x').catch((e: unknown) => e);
    expect(error).to.be.instanceOf(NotFoundWireError).and.have.property('code', 'NOT_FOUND');
    expect(() => running.server.request(id, '')).to.throw(TypeError);
    expect(() => running.server.request(id, 'x', null, { timeoutMs: 0 })).to.throw(TypeError);
    expect(() => running.server.notify('not-a-connection', 'x')).to.throw(NotFoundWireError);
    expect(() => running.server.notify(id, 'x'.repeat(257))).to.throw(TypeError);
  });

  it('lets a request handler ask its own client something through the connection', async () => {
    const running = await startServer();
    running.server.handle('greet', async (_input, { connection }) => {
      const name = await connection.request<string>('name', undefined, { timeoutMs: 2000 });
      return `hello ${name}`;
    });
    const ada = await running.user('ada', 'tcp');
    ada.send({ type: 'request', ref: 'g', op: 'greet' });
    const asked = await ada.next('request');
    expect(asked).to.include({ op: 'name' });
    ada.send({ type: 'response', ref: asked['ref'], data: 'Ada' });
    expect(await ada.next('response')).to.deep.equal({ type: 'response', ref: 'g', data: 'hello Ada' });
  });

  describe('notifications', () => {
    for (const carrier of ['ws', 'tcp'] as const) {
      it(`hands a client notification to the handler of its op, and answers an unknown op with UNKNOWN_OP (${carrier})`, async () => {
        const running = await startServer();
        const seen: [unknown, string][] = [];
        running.server.onNotify('cursor', (data, { connection }) => void seen.push([data, connection.userId]));
        const ada = await running.user('ada', carrier);
        ada.send({ type: 'notify', op: 'cursor', data: { x: 1 } });
        ada.send({ type: 'notify', op: 'nobody' });
        expect(await ada.next('error')).to.include({ code: 'UNKNOWN_OP', frame: 'notify' }).and.not.have.property('ref');
        expect(seen).to.deep.equal([[{ x: 1 }, 'ada']]);
      });

      it(`sends server notifications to one connection (${carrier})`, async () => {
        const running = await startServer();
        running.server.handle('subscribe', (_input, { connection }) => connection.notify('welcome-tour', { step: 1 }));
        const ada = await running.user('ada', carrier);
        const bob = await running.user('bob', carrier);
        for (const c of running.server.connections()) if (c.userId === 'ada') running.server.notify(c.id, 'news', 'for ada');
        expect(await ada.next('notify')).to.deep.equal({ type: 'notify', op: 'news', data: 'for ada' });
        bob.send({ type: 'request', ref: 1, op: 'subscribe' });
        expect(await bob.next('notify')).to.deep.equal({ type: 'notify', op: 'welcome-tour', data: { step: 1 } });
        expect(await bob.next('response')).to.include({ ref: 1, data: true });
        expect(bob.frames.filter((f) => f.type === 'notify')).to.have.length(1);
      });
    }

    it('answers a handler that throws with its code, or INTERNAL reported to onError', async () => {
      const errors: unknown[] = [];
      const running = await startServer({ onError: (error) => errors.push(error) });
      running.server.onNotify('forbidden', () => {
        throw new ForbiddenError('no');
      });
      running.server.onNotify('broken', async () => {
        throw new Error('bug');
      });
      const ada = await running.user('ada');
      ada.send({ type: 'notify', op: 'forbidden' });
      expect(await ada.next('error')).to.include({ code: 'FORBIDDEN', frame: 'notify' });
      ada.send({ type: 'notify', op: 'broken' });
      expect(await ada.next('error')).to.include({ code: 'INTERNAL', frame: 'notify' });
      expect(errors).to.have.length(1);
    });
  });
});
