import { expect } from 'chai';
import { cleanup, startServer, type Carrier, type Running, type TestClient } from './helpers.js';

/** `ada` and `bob` in room `r` over `carrier`; bob has seen ada's join. */
async function twoMembers(running: Running, carrier: Carrier): Promise<{ ada: TestClient; bob: TestClient }> {
  const ada = await running.user('ada', carrier);
  const bob = await running.user('bob', carrier);
  bob.send({ type: 'join', ref: 'j', room: 'r' });
  await bob.next('ok');
  ada.send({ type: 'join', ref: 'j', room: 'r' });
  await ada.next('ok');
  await bob.waitFor((f) => f.type === 'event' && (f['event'] as { userId?: string }).userId === 'ada');
  return { ada, bob };
}

/** The messages `client` has been sent in room events so far, with their ids. */
function messages(client: TestClient): { id: number; message: unknown }[] {
  return client.frames
    .filter((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message')
    .map((f) => {
      const { id, message } = f['event'] as { id: number; message: unknown };
      return { id, message };
    });
}

describe('bad input', () => {
  afterEach(cleanup);

  const cases: [string, string, Record<string, unknown>][] = [
    ['malformed JSON', '{"type":', { code: 'BAD_FRAME' }],
    ['a JSON array', '[1,2]', { code: 'BAD_FRAME' }],
    ['an unknown type', '{"type":"bogus","ref":7}', { code: 'UNKNOWN_TYPE', frame: 'bogus', ref: 7 }],
    ['a missing field', '{"type":"join","ref":1}', { code: 'INVALID_FIELD', frame: 'join', ref: 1 }],
    ['a wrong-typed field', '{"type":"join","ref":2,"room":5}', { code: 'INVALID_FIELD', ref: 2 }],
    ['a negative since', '{"type":"join","room":"a","since":-1}', { code: 'INVALID_FIELD' }],
    ['a request without ref', '{"type":"request","op":"x"}', { code: 'INVALID_FIELD', frame: 'request' }],
    ['an ack without ids', '{"type":"ack","ref":3,"direct":[]}', { code: 'INVALID_FIELD', frame: 'ack', ref: 3 }],
    ['an ack with a number for an id', '{"type":"ack","ref":4,"direct":[7]}', { code: 'INVALID_FIELD', frame: 'ack', ref: 4 }],
    ['a direct ttlMs of 0', '{"type":"direct","ref":5,"to":"bob","data":1,"ttlMs":0}', { code: 'INVALID_FIELD', frame: 'direct', ref: 5 }],
    ['a direct ttlMs past 30 days', '{"type":"direct","ref":6,"to":"bob","data":1,"ttlMs":2592000001}', { code: 'INVALID_FIELD', frame: 'direct', ref: 6 }],
    ['a whisper with a ttlMs', '{"type":"direct","ref":7,"to":"bob","room":"r","data":1,"ttlMs":10}', { code: 'INVALID_FIELD', frame: 'direct', ref: 7 }],
    ['a request with a stream that is not a boolean', '{"type":"request","ref":8,"op":"x","stream":"yes"}', { code: 'INVALID_FIELD', frame: 'request', ref: 8 }],
    ['a stream request for an unknown op', '{"type":"request","ref":9,"op":"nothing","stream":true}', { code: 'UNKNOWN_OP', frame: 'request', ref: 9 }],
    ['a cancel without ref', '{"type":"cancel"}', { code: 'INVALID_FIELD', frame: 'cancel' }],
    ['a cancel with an object for a ref', '{"type":"cancel","ref":{}}', { code: 'INVALID_FIELD', frame: 'cancel' }],
    ['a notify without op', '{"type":"notify","data":1}', { code: 'INVALID_FIELD', frame: 'notify' }],
    ['a notify with an op of 257 characters', `{"type":"notify","op":"${'o'.repeat(257)}"}`, { code: 'INVALID_FIELD', frame: 'notify' }],
    ['a notify for an unknown op', '{"type":"notify","op":"nothing","data":1}', { code: 'UNKNOWN_OP', frame: 'notify' }],
    ['a response without ref', '{"type":"response","data":1}', { code: 'INVALID_FIELD', frame: 'response' }],
    ['a response without data', '{"type":"response","ref":10}', { code: 'INVALID_FIELD', frame: 'response' }],
    ['an error answer without code', '{"type":"error","ref":11}', { code: 'INVALID_FIELD', frame: 'error' }],
    ['an error answer with a lower-case code', '{"type":"error","ref":12,"code":"oops"}', { code: 'INVALID_FIELD', frame: 'error' }],
    ['an error answer with a code of 65 characters', `{"type":"error","ref":13,"code":"${'E'.repeat(65)}"}`, { code: 'INVALID_FIELD', frame: 'error' }],
    ['an error answer with a number for a message', '{"type":"error","ref":14,"code":"INTERNAL","message":5}', { code: 'INVALID_FIELD', frame: 'error' }],
    ['an error answer with a message of 1025 characters', `{"type":"error","ref":15,"code":"INTERNAL","message":"${'m'.repeat(1025)}"}`, { code: 'INVALID_FIELD', frame: 'error' }],
  ];

  for (const carrier of ['ws', 'tcp', 'http'] as const) {
    for (const [what, text, expected] of cases) {
      it(`answers ${what} over ${carrier} with ${String(expected['code'])} and keeps the connection`, async () => {
        const { user } = await startServer();
        const client = await user('ada', carrier);
        client.send(text);
        expect(await client.next('error')).to.include(expected);
        client.send({ type: 'ping', ts: 1 });
        expect(await client.next('pong')).to.include({ ts: 1 });
      });
    }
  }

  for (const carrier of ['ws', 'tcp', 'http'] as const) {
    it(`refuses a payload nested 100,000 deep over ${carrier} with FRAME_TOO_DEEP, consuming no event id`, async () => {
      const errors: unknown[] = [];
      const running = await startServer({ onError: (error) => errors.push(error) });
      const { ada, bob } = await twoMembers(running, carrier);
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      ada.send({ type: 'publish', ref: 1, room: 'r', data: 'before' });
      expect(await ada.next('ok')).to.include({ ref: 1 });
      ada.send(`{"type":"publish","ref":2,"room":"r","data":${deep}}`);
      expect(await ada.next('error')).to.include({ code: 'FRAME_TOO_DEEP', ref: 2, frame: 'publish' });
      ada.send({ type: 'publish', ref: 3, room: 'r', data: 'after' });
      expect(await ada.next('ok')).to.include({ ref: 3 });
      await bob.waitFor((f) => f.type === 'event' && (f['event'] as { message?: unknown }).message === 'after');
      const [before, after] = messages(bob);
      expect(after?.id).to.equal((before?.id ?? NaN) + 1);
      expect(messages(bob).map((m) => m.message)).to.deep.equal(['before', 'after']);
      expect(ada.isClosed || bob.isClosed).to.equal(false);
      expect(errors).to.deep.equal([]);
    });

    it(`passes strings with lone surrogates over ${carrier} to the other members unchanged`, async () => {
      const running = await startServer();
      const { ada, bob } = await twoMembers(running, carrier);
      const data = { text: 'a\ud800b\udfffc', ['\udc00key']: ['\ud83d', '\ud83d\ude00'] };
      ada.send({ type: 'publish', ref: 1, room: 'r', data });
      expect(await ada.next('ok')).to.include({ ref: 1 });
      await bob.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'message');
      expect(messages(bob).map((m) => m.message)).to.deep.equal([data]);
    });
  }

  for (const carrier of ['ws', 'tcp'] as const) {
    it(`ignores answers to server requests it never sent, or sent and gave up on, over ${carrier}`, async () => {
      const errors: unknown[] = [];
      const running = await startServer({ onError: (error) => errors.push(error) });
      const ada = await running.user('ada', carrier);
      ada.send({ type: 'response', ref: 1, data: 'unasked' });
      ada.send({ type: 'response', ref: 'x', data: null });
      ada.send({ type: 'error', ref: 2, code: 'INTERNAL', message: 'unasked' });
      ada.send({ type: 'ping', ts: 0 });
      await ada.next('pong');
      const { id } = running.server.connections()[0]!;
      const answer = running.server.request(id, 'real');
      const request = await ada.next('request');
      ada.send({ type: 'response', ref: request['ref'], data: 'right' });
      expect(await answer).to.equal('right');
      ada.send({ type: 'ping', ts: 1 });
      await ada.next('pong');
      expect(ada.frames.filter((f) => f.type === 'error')).to.deep.equal([]);
      expect(errors).to.deep.equal([]);
    });

    it(`leaves the ref out of errors about answers to server requests over ${carrier}: it is the server's own`, async () => {
      const running = await startServer({ rateLimit: { frames: 3, intervalMs: 60_000 } });
      const ada = await running.user('ada', carrier);
      ada.send({ type: 'error', ref: 7, code: 'lower' });
      ada.send('{"type":"response","ref":8}');
      ada.send({ type: 'response', ref: 9, data: 'over the limit' });
      ada.send({ type: 'request', ref: 10, op: 'online', data: { user: 'ada' } });
      await ada.waitFor((f) => f.type === 'error' && f['ref'] === 10 && f['code'] === 'RATE_LIMITED');
      const errors = ada.frames.filter((f) => f.type === 'error');
      expect(errors.map((f) => [f['code'], f['frame'], 'ref' in f])).to.deep.equal([
        ['INVALID_FIELD', 'error', false],
        ['INVALID_FIELD', 'response', false],
        ['RATE_LIMITED', 'response', false],
        ['RATE_LIMITED', 'request', true],
      ]);
    });

    it(`refuses stream, cancel, notify and answer frames before hello over ${carrier} with NOT_AUTHENTICATED`, async () => {
      const running = await startServer();
      const client = carrier === 'ws' ? await running.ws() : await running.tcp();
      for (const frame of [
        { type: 'request', ref: 1, op: 'presence', stream: true },
        { type: 'cancel', ref: 1 },
        { type: 'notify', op: 'x' },
        { type: 'response', ref: 1, data: 1 },
        { type: 'error', ref: 1, code: 'INTERNAL' },
      ]) {
        client.send(frame);
        expect(await client.next('error')).to.include({ code: 'NOT_AUTHENTICATED', frame: frame.type });
      }
      await client.hello({ user: 'ada' });
    });
  }

  it('answers an oversized WebSocket frame with FRAME_TOO_LARGE and keeps the connection', async () => {
    const { user } = await startServer({ maxFrameBytes: 1024 });
    const client = await user('ada');
    client.send({ type: 'publish', room: 'x', data: 'y'.repeat(2000) });
    expect(await client.next('error')).to.include({ code: 'FRAME_TOO_LARGE' });
    client.send({ type: 'ping', ts: 1 });
    expect(await client.next('pong')).to.include({ ts: 1 });
  });

  it('closes a TCP connection whose length prefix is over the limit, after FRAME_TOO_LARGE', async () => {
    const { user, server } = await startServer({ maxFrameBytes: 1024 });
    const client = await user('ada', 'tcp');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(5 * 1024 * 1024);
    client.send(header);
    expect(await client.next('error')).to.include({ code: 'FRAME_TOO_LARGE' });
    expect(await client.next('bye')).to.include({ code: 'FRAME_TOO_LARGE' });
    await client.closed;
    const other = await user('bob', 'tcp');
    expect(other.isClosed).to.equal(false);
    expect(server.metrics().errorsSent).to.equal(1);
  });

  it('answers a flood with one RATE_LIMITED per window and drops the excess', async () => {
    const { user, server } = await startServer({ rateLimit: { frames: 20, intervalMs: 10_000 } });
    const client = await user('ada', 'tcp');
    for (let i = 0; i < 100; i++) client.send({ type: 'ping', ts: i });
    expect(await client.next('error')).to.include({ code: 'RATE_LIMITED' });
    const pongs = client.frames.filter((f) => f.type === 'pong').length;
    expect(pongs).to.be.at.most(19);
    expect(server.metrics().rateLimited).to.equal(81);
    expect(client.frames.filter((f) => f.type === 'error')).to.have.length(1);
  });

  it('answers every dropped frame that carries a ref with RATE_LIMITED and that ref, so no publish is left unanswered', async () => {
    const { user, server } = await startServer({ rateLimit: { frames: 10, intervalMs: 10_000 } });
    const client = await user('ada', 'tcp');
    client.send({ type: 'join', ref: 'j', room: 'r' });
    await client.next('ok');
    for (let i = 0; i < 30; i++) client.send({ type: 'publish', ref: i, room: 'r', data: i });
    await client.waitFor((f) => f.type === 'error' && f['ref'] === 29);
    const answered = new Map<unknown, string>();
    for (const f of client.frames) {
      if ((f.type === 'ok' || f.type === 'error') && typeof f['ref'] === 'number') answered.set(f['ref'], f.type === 'ok' ? 'ok' : String(f['code']));
    }
    // The hello and the join took two frames of the window: 8 publishes went through, 22 were
    // refused, each answered once.
    expect([...answered.values()].filter((v) => v === 'ok')).to.have.length(8);
    expect([...answered.values()].filter((v) => v === 'RATE_LIMITED')).to.have.length(22);
    expect(answered.get(7)).to.equal('ok');
    expect(client.frames.find((f) => f.type === 'error' && f['ref'] === 8)).to.include({ code: 'RATE_LIMITED', frame: 'publish' });
    expect(server.metrics().rateLimited).to.equal(22);
  });

  it('tells in retryAfterMs how long until the rate window that refused a frame ends', async () => {
    const { user } = await startServer({ rateLimit: { frames: 3, intervalMs: 5_000 } });
    const client = await user('ada', 'tcp');
    for (let i = 0; i < 5; i++) client.send({ type: 'request', ref: i, op: 'online', data: { user: 'ada' } });
    const refused = await client.waitFor((f) => f.type === 'error' && f['ref'] === 4);
    expect(refused).to.include({ code: 'RATE_LIMITED' });
    expect(refused['retryAfterMs']).to.be.a('number').within(1, 5_000);
    for (let i = 0; i < 10; i++) client.send({ type: 'ping', ts: i });
    const notice = await client.waitFor((f) => f.type === 'error' && f['ref'] === undefined);
    expect(notice['retryAfterMs']).to.be.a('number').within(1, 5_000);
  });

  it('refuses a second hello', async () => {
    const { user } = await startServer();
    const client = await user('ada');
    client.send({ type: 'hello', v: 1, user: 'eve' });
    expect(await client.next('error')).to.include({ code: 'BAD_FRAME', frame: 'hello' });
  });
});
