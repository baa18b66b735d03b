import { expect } from 'chai';
import { MsghubClient } from '../src/client.js';
import { ClientClosedError, InvalidArgumentError, RequestTimeoutError, SendDiscardedError } from '../src/errors.js';
import type { ClientOptions } from '../src/options.js';
import { FakePeer, flush, type PeerConnection } from './fake-peer.js';
import { FakeTimers } from './fake-timers.js';

// close({ drain }) and the frames of streams, server requests and notifications against an
// in-memory peer in virtual time. Against the real server: calls.test.ts.

function start(options: Partial<ClientOptions> = {}) {
  const peer = new FakePeer();
  const timers = new FakeTimers();
  const client = new MsghubClient({ connector: peer.connector, timers, ...options });
  return { peer, timers, client };
}

async function connect(peer: FakePeer): Promise<PeerConnection> {
  peer.last.welcome();
  await flush();
  return peer.last;
}

describe('MsghubClient close({ drain }) and calls in virtual time', () => {
  it('waits for a request written before it, then says bye', async () => {
    const { peer, client } = start();
    const connection = await connect(peer);
    const answer = client.request('time');
    let closed = false;
    const closing = client.close({ drain: true, timeoutMs: 5000 }).then(() => (closed = true));
    await flush();
    expect(closed).to.equal(false);
    expect(connection.sent('bye')).to.deep.equal([]);
    const [request] = connection.sent('request');
    connection.push({ type: 'response', ref: request!.ref, data: 42 });
    await closing;
    expect(await answer).to.equal(42);
    expect(connection.received.at(-1)).to.deep.equal({ type: 'bye' });
  });

  it('flushes the send buffer on the next connection before it closes', async () => {
    const { peer, timers, client } = start({ reconnect: { initialDelayMs: 100, jitter: 0 } });
    const first = await connect(peer);
    first.end();
    await flush();
    expect(client.publish('lobby', 'kept')).to.equal('queued');
    let closed = false;
    const closing = client.close({ drain: true, timeoutMs: 5000 }).then(() => (closed = true));
    timers.advance(100);
    const second = await connect(peer);
    await closing;
    expect(closed).to.equal(true);
    expect(second.received.map((frame) => frame.type)).to.deep.equal(['hello', 'publish', 'bye']);
  });

  it('ends the wait after timeoutMs, failing what is in flight as a plain close does', async () => {
    const { peer, timers, client } = start({ requestTimeoutMs: 60_000 });
    await connect(peer);
    const answer = client.request('slow').catch((e: unknown) => e);
    let closed = false;
    const closing = client.close({ drain: true, timeoutMs: 1000 }).then(() => (closed = true));
    timers.advance(999);
    await flush();
    expect(closed).to.equal(false);
    timers.advance(1);
    await closing;
    expect(await answer).to.be.instanceOf(ClientClosedError);
  });

  it('refuses new calls while it waits, but still sends a frame again after RATE_LIMITED', async () => {
    const { peer, timers, client } = start();
    const connection = await connect(peer);
    const sent = client.publishAsync('lobby', 'first');
    const closing = client.close({ drain: true, timeoutMs: 5000 });
    expect(client.publish('lobby', 'late')).to.equal('discarded');
    expect(client.notify('cursor', 1)).to.equal('discarded');
    expect(await client.request('late').catch((e: unknown) => e)).to.be.instanceOf(ClientClosedError);
    expect(await client.publishAsync('lobby', 'late').catch((e: unknown) => e)).to.be.instanceOf(SendDiscardedError);
    const [publish] = connection.sent('publish');
    connection.push({ type: 'error', ref: publish!.ref!, code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 50 });
    timers.advance(50);
    const publishes = connection.sent('publish');
    expect(publishes).to.have.length(2);
    connection.push({ type: 'ok', ref: publish!.ref!, id: 7 });
    expect(await sent).to.equal(7);
    await closing;
  });

  it('times out a request on its own timeout while draining', async () => {
    const { peer, timers, client } = start();
    await connect(peer);
    const answer = client.request('slow', undefined, { timeoutMs: 100 }).catch((e: unknown) => e);
    const closing = client.close({ drain: true, timeoutMs: 5000 });
    timers.advance(100);
    expect(await answer).to.be.instanceOf(RequestTimeoutError);
    await closing;
  });

  it('sends a stream request the server dropped with RATE_LIMITED again after retryAfterMs', async () => {
    const { peer, timers, client } = start();
    const connection = await connect(peer);
    const items: unknown[] = [];
    client.stream('ticks').subscribe((item) => items.push(item));
    const [first] = connection.sent('request');
    connection.push({ type: 'error', ref: first!.ref, code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 40 });
    timers.advance(39);
    expect(connection.sent('request')).to.have.length(1);
    timers.advance(1);
    expect(connection.sent('request')).to.deep.equal([first, first]);
    connection.push({ type: 'response', ref: first!.ref, data: 1, more: true }, { type: 'end', ref: first!.ref });
    expect(items).to.deep.equal([1]);
  });

  it('checks its options', () => {
    const { client } = start();
    expect(() => client.close({ drain: 'yes' as unknown as boolean })).to.throw(InvalidArgumentError);
    expect(() => client.close({ drain: true, timeoutMs: 0 })).to.throw(InvalidArgumentError);
  });

  it('answers a server request for an op without handler with UNKNOWN_OP, and one with a handler with its answer', async () => {
    const { peer, client } = start();
    client.handle('size', (data) => ({ got: data }));
    const connection = await connect(peer);
    connection.push({ type: 'request', ref: 1, op: 'size', data: 'x' }, { type: 'request', ref: 2, op: 'other' });
    await flush();
    expect(connection.received.filter((f) => f.type === 'response' || f.type === 'error')).to.deep.equal([
      { type: 'error', ref: 2, code: 'UNKNOWN_OP', message: 'No handler for "other"' },
      { type: 'response', ref: 1, data: { got: 'x' } },
    ]);
  });

  it('drains an answer its handler is still working on', async () => {
    const { peer, client, timers } = start();
    let release!: (value: string) => void;
    client.handle('later', () => new Promise<string>((resolve) => (release = resolve)));
    const connection = await connect(peer);
    connection.push({ type: 'request', ref: 1, op: 'later' });
    await flush();
    let closed = false;
    const closing = client.close({ drain: true }).then(() => (closed = true));
    timers.advance(1000);
    await flush();
    expect(closed).to.equal(false);
    release('done');
    await closing;
    expect(connection.received.slice(-2)).to.deep.equal([{ type: 'response', ref: 1, data: 'done' }, { type: 'bye' }]);
  });
});
