import { expect } from 'chai';
import WebSocket from 'ws';
import { ForbiddenError, HubServer } from '../src/index.js';
import { parseExposition, valueOf, type Family } from './exposition.js';
import { MemoryAdapter, TestClient, cleanup, delay, startServer, type Running } from './helpers.js';

// GET /metrics of a real server on port 0, after a workload of real clients over WebSocket and TCP.

const TOKEN = 'metrics-token-0123456789';

async function scrape(running: Running, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const response = await fetch(`${httpUrl(running)}/metrics`, { headers });
  expect(response.status).to.equal(200);
  expect(response.headers.get('content-type')).to.equal('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await response.text());
}

function httpUrl(running: Running): string {
  return running.wsUrl.replace('ws:', 'http:').replace(/\/$/, '');
}

/** Events (`event` frames) a client has received so far. */
function eventsOf(client: TestClient): number {
  return client.frames.filter((frame) => frame.type === 'event').length;
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** A WebSocket member of `room` that stops reading: the server's queue for it fills up. */
async function pausedMember(running: Running, user: string, room: string): Promise<{ ws: WebSocket; events: () => number; closed: Promise<void> }> {
  const ws = new WebSocket(running.wsUrl);
  let events = 0;
  let joined = false;
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string };
    if (frame.type === 'event') events++;
    if (frame.type === 'ok') joined = true;
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  ws.send(JSON.stringify({ type: 'hello', v: 1, user }));
  ws.send(JSON.stringify({ type: 'join', ref: 1, room }));
  await until(() => joined, `${user} to join`);
  return { ws, events: () => events, closed };
}

async function join(client: TestClient, room: string): Promise<void> {
  client.send({ type: 'join', ref: `join-${room}`, room });
  await client.waitFor((frame) => frame.type === 'ok' && frame['ref'] === `join-${room}`);
}

describe('Prometheus metrics', () => {
  afterEach(cleanup);

  it('counts a scripted workload exactly: connections by carrier, auth failures, events committed and delivered, a slow-consumer cut, requests', async function () {
    this.timeout(30_000);
    const running = await startServer({ metrics: true, rateLimit: false, authTimeoutMs: 100, maxQueuedBytes: 512 * 1024 });
    running.server.handle('fail', () => {
      throw new ForbiddenError('Not for you');
    });
    const ada = await running.user('ada', 'ws');
    const grace = await running.user('grace', 'tcp');
    await join(ada, 'lobby');
    await join(grace, 'lobby');
    const slow = await pausedMember(running, 'slow', 'lobby');
    // One hello that fails, one connection that never says hello.
    const refused = await running.ws();
    refused.send({ type: 'hello', v: 1 });
    await refused.closed;
    const silent = await running.ws();
    await silent.closed;

    // ada publishes 4 KB messages, paced on what grace reads, until the server cuts the paused
    // member off.
    slow.ws.pause();
    let published = 0;
    const received = (i: number) => (frame: Record<string, unknown>): boolean =>
      frame.type === 'event' && String((frame['event'] as { message?: unknown }).message).startsWith(`${i}:`);
    while (running.server.metrics().slowConsumerCloses === 0) {
      if (published >= 10_000) throw new Error('the paused member was never cut off');
      ada.send({ type: 'publish', ref: published, room: 'lobby', data: `${published}:${'x'.repeat(4000)}` });
      published++;
      if (published % 10 === 0) await grace.waitFor(received(published - 1), 5000);
    }
    await ada.waitFor((frame) => frame.type === 'ok' && frame['ref'] === published - 1, 5000);
    // Both readers see the paused member leave: every event is out.
    const left = (frame: Record<string, unknown>): boolean => frame.type === 'event' && (frame['event'] as { type: string }).type === 'leave';
    await until(() => ada.frames.some(left) && grace.frames.some(left), 'the leave of the paused member');
    // What was written to the paused member before the cut reaches it once it reads again.
    slow.ws.resume();
    await slow.closed;
    ada.send({ type: 'request', ref: 'p', op: 'presence', data: { room: 'lobby' } });
    await ada.next('response');
    ada.send({ type: 'request', ref: 'f', op: 'fail' });
    await ada.waitFor((frame) => frame.type === 'error' && frame['ref'] === 'f');

    const m = await scrape(running);
    expect(valueOf(m, 'msghub_connections', { carrier: 'ws' })).to.equal(1);
    expect(valueOf(m, 'msghub_connections', { carrier: 'tcp' })).to.equal(1);
    expect(valueOf(m, 'msghub_connections_opened_total', { carrier: 'ws' })).to.equal(4);
    expect(valueOf(m, 'msghub_connections_opened_total', { carrier: 'tcp' })).to.equal(1);
    expect(valueOf(m, 'msghub_users_online')).to.equal(2);
    expect(valueOf(m, 'msghub_rooms')).to.equal(1);
    expect(valueOf(m, 'msghub_sessions')).to.equal(2);
    expect(valueOf(m, 'msghub_auth_failures_total', { code: 'AUTH_FAILED' })).to.equal(1);
    expect(valueOf(m, 'msghub_auth_failures_total', { code: 'AUTH_TIMEOUT' })).to.equal(1);
    expect(valueOf(m, 'msghub_disconnects_total', { code: 'AUTH_FAILED' })).to.equal(1);
    expect(valueOf(m, 'msghub_disconnects_total', { code: 'AUTH_TIMEOUT' })).to.equal(1);
    expect(valueOf(m, 'msghub_disconnects_total', { code: 'SLOW_CONSUMER' })).to.equal(1);
    expect(valueOf(m, 'msghub_slow_consumer_closes_total')).to.equal(1);
    expect(valueOf(m, 'msghub_events_committed_total', { type: 'join' })).to.equal(3);
    expect(valueOf(m, 'msghub_events_committed_total', { type: 'message' })).to.equal(published);
    expect(valueOf(m, 'msghub_events_committed_total', { type: 'leave' })).to.equal(1);
    expect(valueOf(m, 'msghub_events_delivered_total')).to.equal(eventsOf(ada) + eventsOf(grace) + slow.events());
    // ada: the three joins, every message, the leave; grace: from its own join on.
    expect(eventsOf(ada)).to.equal(3 + published + 1);
    expect(eventsOf(grace)).to.equal(2 + published + 1);
    expect(valueOf(m, 'msghub_events_dropped_total')).to.equal(0);
    expect(valueOf(m, 'msghub_publish_duration_seconds_count')).to.equal(published);
    expect(valueOf(m, 'msghub_store_commits_total')).to.equal(valueOf(m, 'msghub_store_commit_duration_seconds_count'));
    expect(valueOf(m, 'msghub_request_duration_seconds_count', { op: 'presence', result: 'ok' })).to.equal(1);
    expect(valueOf(m, 'msghub_request_duration_seconds_count', { op: 'fail', result: 'error' })).to.equal(1);
    // hello + join + publishes + 2 requests; hello + join twice more; one refused hello.
    expect(valueOf(m, 'msghub_frames_received_total')).to.equal(published + 4 + 2 + 2 + 1);
    expect(valueOf(m, 'msghub_outbox_frames')).to.equal(0);
    expect(m.get('process_resident_memory_bytes')?.type).to.equal('gauge');
    expect(m.has('msghub_room_sessions')).to.equal(false);
  });

  it('counts streams (opened, items, ended by result, running now) and server requests by result (awaiting now)', async function () {
    this.timeout(20_000);
    const running = await startServer({ metrics: true, rateLimit: false });
    running.server.handle('count', (input) => {
      const { n, fail } = input as { n: number; fail?: boolean };
      return (async function* () {
        for (let i = 1; i <= n; i++) yield i;
        if (fail === true) throw new ForbiddenError('Stopped');
      })();
    });
    let release: () => void = () => undefined;
    running.server.handle('forever', () =>
      (async function* () {
        yield 'first';
        await new Promise<void>((resolve) => (release = resolve));
      })(),
    );
    const ada = await running.user('ada', 'ws');
    const done = (ref: string) => (frame: Record<string, unknown>): boolean =>
      frame['ref'] === ref && (frame.type === 'end' || frame.type === 'error');
    // Two streams that end (3 + 2 items), one whose handler throws after 1 item, one cancelled after
    // its first item, and one left running.
    ada.send({ type: 'request', ref: 'a', op: 'count', stream: true, data: { n: 3 } });
    await ada.waitFor(done('a'));
    ada.send({ type: 'request', ref: 'b', op: 'count', stream: true, data: { n: 2 } });
    await ada.waitFor(done('b'));
    ada.send({ type: 'request', ref: 'c', op: 'count', stream: true, data: { n: 1, fail: true } });
    await ada.waitFor(done('c'));
    ada.send({ type: 'request', ref: 'd', op: 'forever', stream: true });
    await ada.waitFor((frame) => frame['ref'] === 'd' && frame.type === 'response');
    ada.send({ type: 'cancel', ref: 'd' });
    await ada.waitFor(done('d'));
    ada.send({ type: 'request', ref: 'e', op: 'forever', stream: true });
    await ada.waitFor((frame) => frame['ref'] === 'e' && frame.type === 'response');

    // Server requests: answered, answered with an error, timed out, and one left waiting.
    const { id } = running.server.connections()[0]!;
    const answered = running.server.request(id, 'viewport');
    const first = await ada.next('request');
    ada.send({ type: 'response', ref: first['ref'], data: 1 });
    await answered;
    const refused = running.server.request(id, 'other').catch((error: unknown) => error);
    const second = await ada.next('request');
    ada.send({ type: 'error', ref: second['ref'], code: 'UNKNOWN_OP' });
    await refused;
    await running.server.request(id, 'slow', undefined, { timeoutMs: 20 }).catch((error: unknown) => error);
    const waiting = running.server.request(id, 'never').catch((error: unknown) => error);

    let m = await scrape(running);
    expect(valueOf(m, 'msghub_streams_opened_total')).to.equal(5);
    expect(valueOf(m, 'msghub_stream_items_total')).to.equal(3 + 2 + 1 + 1 + 1);
    expect(valueOf(m, 'msghub_streams_ended_total', { result: 'end' })).to.equal(2);
    expect(valueOf(m, 'msghub_streams_ended_total', { result: 'error' })).to.equal(1);
    expect(valueOf(m, 'msghub_streams_ended_total', { result: 'cancelled' })).to.equal(1);
    expect(valueOf(m, 'msghub_streams_active')).to.equal(1);
    expect(valueOf(m, 'msghub_server_requests_total', { result: 'ok' })).to.equal(1);
    expect(valueOf(m, 'msghub_server_requests_total', { result: 'error' })).to.equal(1);
    expect(valueOf(m, 'msghub_server_requests_total', { result: 'timeout' })).to.equal(1);
    expect(valueOf(m, 'msghub_server_requests_total', { result: 'disconnected' })).to.equal(0);
    expect(valueOf(m, 'msghub_server_requests_awaiting')).to.equal(1);
    expect(valueOf(m, 'msghub_server_request_duration_seconds_count', { result: 'ok' })).to.equal(1);
    expect(valueOf(m, 'msghub_server_request_duration_seconds_count', { result: 'timeout' })).to.equal(1);
    // The timed-out request waited its 20 ms (timers may fire a little early against performance.now()).
    expect(valueOf(m, 'msghub_server_request_duration_seconds_sum', { result: 'timeout' })).to.be.at.least(0.01);

    // The connection ends: its running stream counts as cancelled, its waiting request as disconnected.
    ada.close();
    await waiting;
    release();
    await until(() => running.server.connections().length === 0, 'the connection to close');
    m = await scrape(running);
    expect(valueOf(m, 'msghub_streams_ended_total', { result: 'cancelled' })).to.equal(2);
    expect(valueOf(m, 'msghub_streams_active')).to.equal(0);
    expect(valueOf(m, 'msghub_server_requests_total', { result: 'disconnected' })).to.equal(1);
    expect(valueOf(m, 'msghub_server_requests_awaiting')).to.equal(0);
    expect(valueOf(m, 'msghub_server_request_duration_seconds_count', { result: 'disconnected' })).to.equal(1);
    expect(valueOf(m, 'msghub_streams_opened_total')).to.equal(5);
  });

  it('counts gap notices by reason: dropped by drop-oldest, and reset on a resume from another epoch', async () => {
    const running = await startServer({ metrics: true, rateLimit: false, slowConsumerPolicy: 'drop-oldest', maxQueuedFrames: 20 });
    const adapter = new MemoryAdapter();
    await running.server.addAdapter(adapter);
    const stalled = adapter.connect();
    stalled.send({ type: 'hello', v: 1, user: 'stalled' });
    stalled.send({ type: 'join', ref: 1, room: 'r' });
    await until(() => stalled.frames().some((frame) => frame['type'] === 'ok'), 'the stalled member to join');
    stalled.needsDrain = true;
    const hub = running.server.rooms.get('r');
    for (let i = 0; i < 100; i++) await hub?.message('server', `m${i}`);
    stalled.drain();
    await delay(20);
    const resumer = await running.user('resumer');
    resumer.send({ type: 'join', ref: 'j', room: 'r', since: 5, epoch: 'another-epoch' });
    await resumer.next('gap');

    const m = await scrape(running);
    // The resumer's replay of the whole history overflows its queue too.
    const gaps = [...stalled.frames(), ...resumer.frames].filter((frame) => frame['type'] === 'gap');
    const dropped = gaps.filter((gap) => gap['reason'] === 'dropped').length;
    expect(dropped).to.be.greaterThan(1);
    expect(valueOf(m, 'msghub_gaps_total', { reason: 'dropped' })).to.equal(dropped);
    expect(valueOf(m, 'msghub_gaps_total', { reason: 'reset' })).to.equal(1);
    expect(valueOf(m, 'msghub_gaps_total', { reason: 'trimmed' })).to.equal(0);
    expect(valueOf(m, 'msghub_events_dropped_total')).to.equal(running.server.metrics().droppedEvents);
  });

  it('adds per-room series only with perRoom, for the rooms with the most sessions', async () => {
    const running = await startServer({ metrics: { perRoom: 2, process: false } });
    const clients = await Promise.all(['a', 'b', 'c'].map((user) => running.user(user)));
    for (const [i, client] of clients.entries()) {
      for (const room of ['big', 'middle', 'small'].slice(0, 3 - i)) await join(client, room);
    }
    const m = await scrape(running);
    expect(m.get('msghub_room_sessions')?.samples.map((s) => [s.labels['room'], s.value])).to.deep.equal([
      ['big', 3],
      ['middle', 2],
    ]);
    expect(valueOf(m, 'msghub_room_events_committed_total', { room: 'big' })).to.equal(3);
    expect(m.has('process_resident_memory_bytes')).to.equal(false);
  });

  it('keeps two servers in one process apart: each scrape counts its own server', async () => {
    const one = await startServer({ metrics: true });
    const two = await startServer({ metrics: true });
    await one.user('ada');
    await one.user('grace');
    await two.user('alan');
    expect(valueOf(await scrape(one), 'msghub_connections_opened_total', { carrier: 'ws' })).to.equal(2);
    expect(valueOf(await scrape(two), 'msghub_connections_opened_total', { carrier: 'ws' })).to.equal(1);
  });

  it('is not served without the option: /metrics is 404', async () => {
    const running = await startServer();
    expect((await fetch(`${httpUrl(running)}/metrics`)).status).to.equal(404);
  });

  describe('token', () => {
    it('refuses a scrape without the bearer token, or with another, with 401', async () => {
      const running = await startServer({ metrics: { token: TOKEN } });
      const url = `${httpUrl(running)}/metrics`;
      const missing = await fetch(url);
      expect(missing.status).to.equal(401);
      expect(missing.headers.get('www-authenticate')).to.match(/^Bearer/);
      expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).to.equal(401);
      expect((await fetch(url, { headers: { authorization: `Basic ${TOKEN}` } })).status).to.equal(401);
      const m = await scrape(running, { authorization: `Bearer ${TOKEN}` });
      expect(valueOf(m, 'msghub_rooms')).to.equal(0);
    });

    it('refuses to listen beyond loopback without a token, and listens there with one', async () => {
      const open = new HubServer({ metrics: true });
      const error = await open.listen({ ws: { host: '0.0.0.0' } }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(TypeError);
      await open.close();
      const guarded = new HubServer({ metrics: { token: TOKEN } });
      const { ws } = await guarded.listen({ ws: { host: '0.0.0.0' } });
      const response = await fetch(`http://127.0.0.1:${ws?.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(response.status).to.equal(200);
      await guarded.close();
    });

    it('answers 405 to a method other than GET', async () => {
      const running = await startServer({ metrics: true });
      const response = await fetch(`${httpUrl(running)}/metrics`, { method: 'POST' });
      expect(response.status).to.equal(405);
    });
  });

  describe('options', () => {
    const bad: [string, unknown][] = [
      ['a string', 'yes'],
      ['a short token', { token: 'short' }],
      ['a negative perRoom', { perRoom: -1 }],
      ['a fractional perRoom', { perRoom: 1.5 }],
      ['process not a boolean', { process: 'no' }],
    ];
    for (const [what, metrics] of bad) {
      it(`throws a TypeError for ${what}`, () => {
        expect(() => new HubServer({ metrics: metrics as never })).to.throw(TypeError);
      });
    }
  });
});
