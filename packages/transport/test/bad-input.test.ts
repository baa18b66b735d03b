import { expect } from 'chai';
import { cleanup, startServer } from './helpers.js';

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
  ];

  for (const carrier of ['ws', 'tcp'] as const) {
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

  it('refuses a second hello', async () => {
    const { user } = await startServer();
    const client = await user('ada');
    client.send({ type: 'hello', v: 1, user: 'eve' });
    expect(await client.next('error')).to.include({ code: 'BAD_FRAME', frame: 'hello' });
  });
});
