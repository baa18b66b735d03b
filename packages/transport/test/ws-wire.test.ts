import { expect } from 'chai';
import { HubServer, MAX_TCP_FRAME_BYTES, type HubServerOptions } from '../src/index.js';
import { delay } from './helpers.js';
import { Op, RawWs, acceptFor, closeCode, closePayload, encodeFrame, upgradeRequest, type FrameSpec, type UpgradeSpec, type WireFrame } from './raw-ws.js';

// The WebSocket carrier on the wire (RFC 6455), spoken byte by byte over node:net against a real
// server on port 0. These tests pin what the RFC and docs/protocol.md require of the carrier, not
// what a particular WebSocket library happens to do: where the RFC leaves a choice (which 4xx
// status, whether to wait for the peer's close before ending TCP, whether to echo a close code)
// they assert only what must hold.

const servers: HubServer[] = [];

interface Started {
  server: HubServer;
  port: number;
  /** The close codes `onDisconnect` reported, in order. */
  disconnects: string[];
}

/** A server with only the WebSocket carrier, trusting the client's user id, without heartbeats. */
async function start(options: HubServerOptions = {}, path?: string): Promise<Started> {
  const disconnects: string[] = [];
  const server = new HubServer({ trustClientUser: true, heartbeatMs: 0, onDisconnect: (_connection, code) => disconnects.push(code), ...options });
  servers.push(server);
  const { ws } = await server.listen({ ws: { port: 0, ...(path === undefined ? {} : { path }) } });
  if (ws === undefined) throw new Error('no WebSocket address');
  return { server, port: ws.port, disconnects };
}

async function until(condition: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

/** What RFC 6455 §5.1-5.2 requires of every frame a server sends (no extension negotiated). */
function expectServerFrame(frame: WireFrame): void {
  expect(frame.masked, 'a server frame is never masked').to.equal(false);
  expect(frame.rsv, 'no RSV bit without an extension').to.equal(0);
  // The shortest length encoding (§5.2: "the minimal number of bytes MUST be used").
  const length = frame.payload.length;
  expect(frame.lengthBits).to.equal(length > 65535 ? 64 : length > 125 ? 16 : 7);
}

/** A text frame of msghub: final, opcode text, and one JSON object. */
function expectMessageFrame(frame: WireFrame): void {
  expectServerFrame(frame);
  expect(frame.fin, 'FIN set: msghub frames are never fragmented').to.equal(true);
  expect(frame.opcode).to.equal(Op.text);
  expect(JSON.parse(frame.payload.toString('utf8'))).to.be.an('object');
}

/** A connection past `welcome` as `user`. */
async function member(port: number, user: string): Promise<RawWs> {
  const raw = await RawWs.open(port);
  await raw.sendJson({ type: 'hello', v: 1, user });
  expect(await raw.nextJson('welcome')).to.include({ userId: user });
  return raw;
}

async function join(raw: RawWs, room: string, ref: number): Promise<void> {
  await raw.sendJson({ type: 'join', ref, room });
  expect(await raw.nextJson('ok')).to.include({ ref, room });
}

/** The next `event` frame whose room event has `type`. */
async function nextEvent(raw: RawWs, type: string): Promise<Record<string, unknown>> {
  for (;;) {
    const frame = await raw.nextJson('event');
    const event = frame['event'] as Record<string, unknown>;
    if (event['type'] === type) return event;
  }
}

/**
 * RFC 6455 §7.1.7: a close frame with `code` (the frames before it, if any, are text frames),
 * nothing after it, then the server closes TCP without waiting for the client; the server forgets
 * the connection.
 */
async function expectFailed(raw: RawWs, started: Started, code: number | readonly number[]): Promise<void> {
  const close = await raw.nextClose();
  expectServerFrame(close);
  expect(close.fin).to.equal(true);
  expect(typeof code === 'number' ? [code] : code).to.include(closeCode(close));
  await raw.waitEnded(3000);
  expect(raw.unread(), 'no frame after the close frame').to.deep.equal([]);
  await until(() => started.server.metrics().connections === 0, 'the server to drop the connection');
}

describe('WebSocket wire (RFC 6455)', () => {
  afterEach(async () => {
    RawWs.destroyAll();
    await Promise.all(servers.map((server) => server.close()));
    servers.length = 0;
  });

  describe('opening handshake', () => {
    it('switches protocols with Upgrade, Connection and the Sec-WebSocket-Accept made from the key (§4.2.2)', async () => {
      const { port } = await start();
      // The example of RFC 6455 §1.3, then a fresh key.
      for (const key of ['dGhlIHNhbXBsZSBub25jZQ==', undefined]) {
        const raw = await RawWs.connect(port);
        const request = upgradeRequest(port, key === undefined ? {} : { headers: { 'Sec-WebSocket-Key': key } });
        await raw.write(Buffer.from(request.text, 'latin1'));
        const head = await raw.response();
        expect(head.status).to.equal(101);
        expect(head.headers.get('upgrade')?.toLowerCase()).to.equal('websocket');
        expect(head.headers.get('connection')?.toLowerCase().split(/\s*,\s*/)).to.include('upgrade');
        expect(head.headers.get('sec-websocket-accept')).to.equal(acceptFor(request.key as string));
        if (key !== undefined) expect(head.headers.get('sec-websocket-accept')).to.equal('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
        // No extension was offered, so none may be in use.
        expect(head.headers.has('sec-websocket-extensions')).to.equal(false);
        raw.socket.destroy();
      }
    });

    it('selects the first subprotocol offered, and names none when none was offered (§4.2.2, §4.1)', async () => {
      const { port } = await start();
      const offered = await RawWs.open(port, { headers: { 'Sec-WebSocket-Protocol': 'msghub.v1, chat' } });
      expect(offered.head?.headers.get('sec-websocket-protocol')).to.equal('msghub.v1');
      // A subprotocol the client did not offer makes the client fail the connection (§4.1).
      const none = await RawWs.open(port);
      expect(none.head?.headers.has('sec-websocket-protocol')).to.equal(false);
      // Either way the connection speaks msghub.
      await offered.sendJson({ type: 'hello', v: 1, user: 'ada' });
      expect(await offered.nextJson('welcome')).to.include({ userId: 'ada' });
    });

    // §4.2.1: a request that is not a valid handshake gets an HTTP error status and no switch.
    // The status the ws carrier uses is in each comment; the test asserts the 4xx class only.
    const refused: { what: string; spec: Parameters<typeof upgradeRequest>[1] }[] = [
      // ws: 400
      { what: 'no Sec-WebSocket-Key', spec: { headers: { 'Sec-WebSocket-Key': undefined } } },
      // ws: 400 (the key must be 16 bytes in base64: 'short' is 5)
      { what: 'a Sec-WebSocket-Key that is not 16 bytes in base64', spec: { headers: { 'Sec-WebSocket-Key': 'c2hvcnQ=' } } },
      // ws: 400
      { what: 'no Sec-WebSocket-Version', spec: { headers: { 'Sec-WebSocket-Version': undefined } } },
      // ws: 400 (RFC suggests 426)
      { what: 'Sec-WebSocket-Version 12', spec: { headers: { 'Sec-WebSocket-Version': '12' } } },
      // ws: 400
      { what: 'an Upgrade to another protocol than websocket', spec: { headers: { Upgrade: 'h2c' } } },
      // ws: 405
      { what: 'a POST', spec: { method: 'POST', headers: { 'Content-Length': '0' } } },
    ];
    for (const { what, spec } of refused) {
      it(`refuses an upgrade request with ${what}: a 4xx, never 101, and the socket closes`, async () => {
        const { port } = await start();
        const raw = await RawWs.connect(port);
        await raw.write(Buffer.from(upgradeRequest(port, spec).text, 'latin1'));
        const head = await raw.response();
        expect(head.status, head.statusLine).to.be.within(400, 499);
        await raw.waitEnded();
      });
    }

    it('stays up when clients reset TCP right after an upgrade request it refuses, for a bad key or a foreign origin', async () => {
      const errors: unknown[] = [];
      const { port } = await start({ onError: (error) => errors.push(error) });
      const bad: UpgradeSpec[] = [{ headers: { 'Sec-WebSocket-Key': 'short' } }, { headers: { Origin: 'https://elsewhere.example' } }];
      for (let i = 0; i < 200; i++) {
        const raw = await RawWs.connect(port);
        raw.socket.write(upgradeRequest(port, bad[i % 2]).text);
        // The reset reaches the server before or while it writes the refusal.
        if (i % 4 >= 2) await new Promise((resolve) => setImmediate(resolve));
        raw.socket.resetAndDestroy();
      }
      await member(port, 'ada');
      // The origin refusals are reported (once per 10 s), nothing else.
      expect(errors.map((error) => (error as { code?: unknown }).code)).to.deep.equal(['ORIGIN_NOT_ALLOWED']);
    });

    it('names the version it speaks when it refuses another one (§4.2.2)', async () => {
      const { port } = await start();
      const raw = await RawWs.connect(port);
      await raw.write(Buffer.from(upgradeRequest(port, { headers: { 'Sec-WebSocket-Version': '12' } }).text, 'latin1'));
      const head = await raw.response();
      expect(head.status).to.be.within(400, 499);
      expect(head.headers.get('sec-websocket-version')?.split(/\s*,\s*/)).to.include('13');
    });

    it('answers a request without an Upgrade header as plain HTTP: a 4xx at the WebSocket URL, never 101', async () => {
      const { port } = await start();
      const raw = await RawWs.connect(port);
      await raw.write(Buffer.from(upgradeRequest(port, { headers: { Upgrade: undefined } }).text, 'latin1'));
      const head = await raw.response();
      // ws carrier: 404 from the HTTP listener. HTTP/1.1 keep-alive may leave the socket open.
      expect(head.status, head.statusLine).to.be.within(400, 499);
    });

    it('accepts an upgrade at its path, with a query string', async () => {
      const { port } = await start({}, '/hub');
      const raw = await RawWs.open(port, { path: '/hub?client=raw' });
      await raw.sendJson({ type: 'hello', v: 1, user: 'ada' });
      expect(await raw.nextJson('welcome')).to.include({ userId: 'ada' });
    });

    // §4.2.2 (/resource name/): "If the requested service is not available, the server MUST send
    // an appropriate HTTP error code (such as 404 Not Found)". The ws carrier destroys the socket
    // without an answer (ws-adapter.ts #upgrade: it leaves other paths to another handler).
    it('refuses an upgrade to a path other than its own with a 4xx, never 101, and the socket closes', async () => {
      const { port } = await start({}, '/hub');
      const raw = await RawWs.connect(port);
      await raw.write(Buffer.from(upgradeRequest(port, { path: '/other' }).text, 'latin1'));
      await raw.waitEnded();
      expect(raw.head?.statusLine, 'an HTTP answer').to.be.a('string');
      expect(raw.head?.status).to.be.within(400, 499);
    });

    it('refuses an upgrade to a path other than its own without switching protocols', async () => {
      const { port } = await start({}, '/hub');
      const raw = await RawWs.connect(port);
      await raw.write(Buffer.from(upgradeRequest(port, { path: '/other' }).text, 'latin1'));
      await raw.waitEnded();
      expect(raw.head?.status).to.not.equal(101);
    });

    it('keeps the frames that arrive in the same TCP write as the upgrade request', async () => {
      const { port } = await start();
      const head = Buffer.concat([
        encodeFrame({ opcode: Op.text, payload: JSON.stringify({ type: 'hello', v: 1, user: 'ada' }) }),
        encodeFrame({ opcode: Op.text, payload: JSON.stringify({ type: 'ping', ts: 7 }) }),
      ]);
      const raw = await RawWs.open(port, {}, head);
      expect(await raw.nextJson('welcome')).to.include({ userId: 'ada' });
      expect(await raw.nextJson('pong')).to.include({ ts: 7 });
    });

    it('reads an upgrade request that arrives in pieces of 7 bytes', async () => {
      const { port } = await start();
      const raw = await RawWs.connect(port);
      const request = upgradeRequest(port);
      const bytes = Buffer.from(request.text, 'latin1');
      await raw.write(bytes, Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => i * 7));
      const head = await raw.response();
      expect(head.status).to.equal(101);
      expect(head.headers.get('sec-websocket-accept')).to.equal(acceptFor(request.key as string));
    });
  });

  describe('data frames', () => {
    it('takes a hello in one text frame', async () => {
      const { port } = await start();
      const raw = await RawWs.open(port);
      await raw.sendJson({ type: 'hello', v: 1, user: 'ada' });
      const welcome = await raw.nextJson('welcome');
      expect(welcome).to.include({ v: 1, userId: 'ada' });
    });

    it('takes a hello written one byte at a time', async () => {
      const { port } = await start();
      const raw = await RawWs.open(port);
      const frame = encodeFrame({ opcode: Op.text, payload: JSON.stringify({ type: 'hello', v: 1, user: 'ada' }) });
      await raw.write(frame, Array.from({ length: frame.length }, (_, i) => i));
      expect(await raw.nextJson('welcome')).to.include({ userId: 'ada' });
    });

    it('takes several frames in one TCP write, in order', async () => {
      const { port } = await start();
      const raw = await RawWs.open(port);
      const frames = [
        { type: 'hello', v: 1, user: 'ada' },
        { type: 'join', ref: 1, room: 'r' },
        { type: 'publish', ref: 2, room: 'r', data: 'one' },
        { type: 'publish', ref: 3, room: 'r', data: 'two' },
        { type: 'ping', ts: 4 },
      ];
      await raw.write(Buffer.concat(frames.map((frame) => encodeFrame({ opcode: Op.text, payload: JSON.stringify(frame) }))));
      const oks: unknown[] = [];
      const messages: unknown[] = [];
      const pongs: unknown[] = [];
      while (oks.length < 3 || messages.length < 2 || pongs.length < 1) {
        const frame = JSON.parse((await raw.nextFrame()).payload.toString('utf8')) as Record<string, unknown>;
        if (frame['type'] === 'ok') oks.push(frame['ref']);
        if (frame['type'] === 'event' && (frame['event'] as { type: string }).type === 'message') messages.push((frame['event'] as { message: unknown }).message);
        // A ping is answered even before welcome, so the pong may come first.
        if (frame['type'] === 'pong') pongs.push(frame['ts']);
      }
      expect(oks).to.deep.equal([1, 2, 3]);
      expect(messages).to.deep.equal(['one', 'two']);
      expect(pongs).to.deep.equal([4]);
    });

    it('reassembles a message of a text frame and 3 continuation frames, answering a ping sent between them', async () => {
      const { port } = await start();
      const raw = await RawWs.open(port);
      const text = JSON.stringify({ type: 'hello', v: 1, user: 'ada' });
      const ping = Buffer.from('between fragments');
      await raw.send({ opcode: Op.text, fin: false, payload: text.slice(0, 10) });
      await raw.send({ opcode: Op.continuation, fin: false, payload: text.slice(10, 20) });
      await raw.send({ opcode: Op.ping, payload: ping });
      await raw.send({ opcode: Op.continuation, fin: false, payload: text.slice(20, 30) });
      await raw.send({ opcode: Op.continuation, fin: true, payload: text.slice(30) });
      const got: WireFrame[] = [await raw.nextFrame(), await raw.nextFrame()];
      const pong = got.find((frame) => frame.opcode === Op.pong);
      const welcome = got.find((frame) => frame.opcode === Op.text);
      expect(pong?.payload.equals(ping), 'a pong with the ping payload').to.equal(true);
      expect(pong?.fin).to.equal(true);
      expect(JSON.parse(welcome?.payload.toString('utf8') ?? '{}')).to.include({ type: 'welcome', userId: 'ada' });
    });

    it('takes a character whose UTF-8 bytes are split between two fragments (§8.1: the message is what is valid)', async () => {
      const { port } = await start();
      const raw = await RawWs.open(port);
      const bytes = Buffer.from(JSON.stringify({ type: 'hello', v: 1, user: 'zoé' }), 'utf8');
      const inside = bytes.indexOf(Buffer.from('é', 'utf8')) + 1;
      await raw.send({ opcode: Op.text, fin: false, payload: bytes.subarray(0, inside) });
      await raw.send({ opcode: Op.continuation, payload: bytes.subarray(inside) });
      expect(await raw.nextJson('welcome')).to.include({ userId: 'zoé' });
    });

    // The publish frame's own length picks the header form: 7 bits up to 125 bytes, 16 bits up to
    // 65535, 64 bits above. Each is written cut inside its header and its mask key.
    const sizes: { form: string; data: number; min: number; max: number }[] = [
      { form: '7-bit', data: 20, min: 0, max: 125 },
      { form: '16-bit', data: 1000, min: 126, max: 65535 },
      { form: '64-bit', data: 70_000, min: 65536, max: Infinity },
    ];
    for (const { form, data, min, max } of sizes) {
      it(`round-trips a ${form} length payload through a room, cut inside its header`, async () => {
        const { port } = await start();
        const ada = await member(port, 'ada');
        const bob = await member(port, 'bob');
        await join(ada, 'r', 1);
        await join(bob, 'r', 1);
        const message = 'x'.repeat(data - 4) + 'é€';
        const payload = JSON.stringify({ type: 'publish', ref: 2, room: 'r', data: message });
        const length = Buffer.byteLength(payload);
        expect(length, 'the frame has the intended length form').to.be.within(min, max);
        const frame = encodeFrame({ opcode: Op.text, payload });
        await ada.write(frame, [1, 2, 3, 5, 9, 12, frame.length - 1]);
        expect(await ada.nextJson('ok')).to.include({ ref: 2 });
        const event = await nextEvent(bob, 'message');
        expect(event['message']).to.equal(message);
        for (const received of bob.frames) expectMessageFrame(received);
      });
    }
  });

  describe('protocol errors: a close frame with the code, then TCP ends (§7.1.7)', () => {
    const text = (payload: string | Buffer): FrameSpec => ({ opcode: Op.text, payload });
    const cases: { what: string; frames: FrameSpec[]; code: number }[] = [
      { what: 'an unmasked client frame', frames: [{ opcode: Op.text, payload: '{"type":"ping"}', mask: false }], code: 1002 },
      { what: 'RSV1 set without an extension', frames: [{ ...text('{"type":"ping"}'), rsv: 4 }], code: 1002 },
      { what: 'RSV2 set', frames: [{ ...text('{"type":"ping"}'), rsv: 2 }], code: 1002 },
      { what: 'RSV3 set', frames: [{ ...text('{"type":"ping"}'), rsv: 1 }], code: 1002 },
      { what: 'the reserved data opcode 0x3', frames: [{ opcode: 0x3, payload: 'x' }], code: 1002 },
      { what: 'the reserved control opcode 0xB', frames: [{ opcode: 0xb, payload: 'x' }], code: 1002 },
      { what: 'a ping of 126 bytes (control frames carry at most 125)', frames: [{ opcode: Op.ping, payload: Buffer.alloc(126, 1) }], code: 1002 },
      { what: 'a fragmented ping', frames: [{ opcode: Op.ping, fin: false, payload: 'x' }], code: 1002 },
      { what: 'a continuation frame with no message to continue', frames: [{ opcode: Op.continuation, payload: '{"type":"ping"}' }], code: 1002 },
      {
        what: 'a new text frame inside a fragmented message',
        frames: [
          { opcode: Op.text, fin: false, payload: '{"type":' },
          { opcode: Op.text, payload: '"ping"}' },
        ],
        code: 1002,
      },
      { what: 'invalid UTF-8 in a text message', frames: [text(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))], code: 1007 },
      { what: 'a UTF-16 surrogate encoded in UTF-8 in a text message', frames: [text(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))], code: 1007 },
      { what: 'an overlong UTF-8 encoding in a text message', frames: [text(Buffer.from([0x22, 0xc0, 0xaf, 0x22]))], code: 1007 },
      {
        what: 'invalid UTF-8 in the last fragment of a text message',
        frames: [
          { opcode: Op.text, fin: false, payload: '"ok' },
          { opcode: Op.continuation, payload: Buffer.from([0xff, 0x22]) },
        ],
        code: 1007,
      },
      { what: 'a close frame with a 1-byte payload', frames: [{ opcode: Op.close, payload: Buffer.from([0x03]) }], code: 1002 },
      ...[0, 999, 1004, 1005, 1006, 1015, 2999].map((invalid) => ({
        what: `a close frame with the invalid code ${invalid}`,
        frames: [{ opcode: Op.close, payload: closePayload(invalid) }],
        code: 1002,
      })),
      { what: 'a close reason that is not UTF-8', frames: [{ opcode: Op.close, payload: closePayload(1000, Buffer.from([0xc3, 0x28])) }], code: 1007 },
    ];
    for (const { what, frames, code } of cases) {
      it(`answers ${what} with ${code}`, async () => {
        const started = await start();
        const raw = await RawWs.open(started.port);
        await raw.write(Buffer.concat(frames.map(encodeFrame)));
        await expectFailed(raw, started, code);
      });
    }

    // §5.2: "the most significant bit MUST be 0". The RFC names no code for it: 1002 (protocol
    // error) or 1009 (too big to process; the ws carrier's choice) both say why.
    it('fails a frame whose 64-bit length has the most significant bit set, with 1002 or 1009', async () => {
      const started = await start();
      const raw = await RawWs.open(started.port);
      const frame = Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4]);
      await raw.write(frame);
      await expectFailed(raw, started, [1002, 1009]);
    });

    it('answers a protocol error after welcome the same way', async () => {
      const started = await start();
      const raw = await member(started.port, 'ada');
      await raw.send({ opcode: Op.text, payload: '{"type":"ping"}', mask: false });
      await expectFailed(raw, started, 1002);
      expect(started.disconnects).to.have.length(1);
    });
  });

  describe('message size limits (docs/protocol.md: maxFrameBytes, hard cap 4 MiB)', () => {
    const MAX_FRAME_BYTES = 1024;
    /** A ping frame of exactly `bytes` bytes (unknown fields are ignored). */
    const pingOf = (bytes: number): string => {
      const bare = JSON.stringify({ type: 'ping', ts: 1, pad: '' });
      return JSON.stringify({ type: 'ping', ts: 1, pad: 'p'.repeat(bytes - bare.length) });
    };

    it('takes a message of exactly maxFrameBytes', async () => {
      const { port } = await start({ maxFrameBytes: MAX_FRAME_BYTES });
      const raw = await RawWs.open(port);
      const payload = pingOf(MAX_FRAME_BYTES);
      expect(Buffer.byteLength(payload)).to.equal(MAX_FRAME_BYTES);
      await raw.send({ opcode: Op.text, payload });
      expect(await raw.nextJson('pong')).to.include({ ts: 1 });
    });

    it('answers a message one byte over maxFrameBytes with FRAME_TOO_LARGE and keeps the connection', async () => {
      const { port } = await start({ maxFrameBytes: MAX_FRAME_BYTES });
      const raw = await RawWs.open(port);
      await raw.send({ opcode: Op.text, payload: pingOf(MAX_FRAME_BYTES + 1) });
      expect(await raw.nextJson('error')).to.include({ code: 'FRAME_TOO_LARGE' });
      await raw.sendJson({ type: 'ping', ts: 2 });
      expect(await raw.nextJson('pong')).to.include({ ts: 2 });
      expect(raw.frames.every((frame) => frame.opcode === Op.text)).to.equal(true);
    });

    it('answers a message of exactly the 4 MiB cap, fragmented or not, with FRAME_TOO_LARGE and keeps the connection', async () => {
      const { port } = await start({ maxFrameBytes: MAX_FRAME_BYTES });
      const raw = await RawWs.open(port);
      const whole = Buffer.alloc(MAX_TCP_FRAME_BYTES, 0x61);
      await raw.send({ opcode: Op.text, payload: whole });
      expect(await raw.nextJson('error', 10_000)).to.include({ code: 'FRAME_TOO_LARGE' });
      const half = MAX_TCP_FRAME_BYTES / 2;
      await raw.send({ opcode: Op.text, fin: false, payload: whole.subarray(0, half) });
      await raw.send({ opcode: Op.continuation, payload: whole.subarray(half) });
      expect(await raw.nextJson('error', 10_000)).to.include({ code: 'FRAME_TOO_LARGE' });
      await raw.sendJson({ type: 'ping', ts: 3 });
      expect(await raw.nextJson('pong')).to.include({ ts: 3 });
    });

    // The length is in the header: the server need not wait for the payload to refuse it.
    it('closes with 1009 on a frame that declares one byte more than the 4 MiB cap', async () => {
      const started = await start({ maxFrameBytes: MAX_FRAME_BYTES });
      const raw = await RawWs.open(started.port);
      await raw.send({ opcode: Op.text, length: MAX_TCP_FRAME_BYTES + 1, payload: 'aaaa' });
      await expectFailed(raw, started, 1009);
    });

    it('closes with 1009 on a fragmented message whose fragments add up to more than the 4 MiB cap', async () => {
      const started = await start({ maxFrameBytes: MAX_FRAME_BYTES });
      const raw = await RawWs.open(started.port);
      const half = MAX_TCP_FRAME_BYTES / 2;
      await raw.send({ opcode: Op.text, fin: false, payload: Buffer.alloc(half, 0x61) });
      await raw.send({ opcode: Op.continuation, length: half + 1, payload: 'aaaa' });
      await expectFailed(raw, started, 1009);
    });
  });

  describe('closing handshake', () => {
    it('answers a client close 1000 with a close 1000, then ends TCP', async () => {
      const started = await start();
      const raw = await member(started.port, 'ada');
      await raw.send({ opcode: Op.close, payload: closePayload(1000) });
      const close = await raw.nextFrame();
      expect(close.opcode).to.equal(Op.close);
      expectServerFrame(close);
      expect(closeCode(close)).to.equal(1000);
      await raw.waitEnded(3000);
      expect(raw.unread()).to.deep.equal([]);
      await until(() => started.disconnects.length === 1, 'onDisconnect');
      expect(started.server.metrics().connections).to.equal(0);
    });

    it('answers a client close 4000 with a reason with a close frame, then ends TCP', async () => {
      const { port } = await start();
      const raw = await member(port, 'ada');
      await raw.send({ opcode: Op.close, payload: closePayload(4000, 'going away to lunch') });
      const close = await raw.nextFrame();
      expect(close.opcode).to.equal(Op.close);
      expectServerFrame(close);
      // §5.5.1: the answer "typically echos" the code; ws does, with the reason. Either must be valid.
      expect([4000, 1000]).to.include(closeCode(close));
      await raw.waitEnded(3000);
    });

    it('answers a close without a payload with a close frame, then ends TCP', async () => {
      const { port } = await start();
      const raw = await member(port, 'ada');
      await raw.send({ opcode: Op.close });
      const close = await raw.nextFrame();
      expect(close.opcode).to.equal(Op.close);
      // 1005 ("no status") must never be sent: an empty payload or a real code.
      expect([undefined, 1000]).to.include(closeCode(close));
      await raw.waitEnded(3000);
    });

    it('on a kick, sends kicked and bye, then a close 1000, and ends TCP within seconds though the client never answers', async () => {
      const { server, port } = await start();
      const raw = await member(port, 'ada');
      expect(server.kick('ada')).to.equal(1);
      expect(await raw.nextJson('kicked')).to.include({ code: 'KICKED' });
      expect(await raw.nextJson('bye')).to.include({ code: 'KICKED' });
      const close = await raw.nextFrame();
      expect(close.opcode).to.equal(Op.close);
      expectServerFrame(close);
      expect(closeCode(close)).to.equal(1000);
      await raw.waitEnded(5000);
      expect(raw.unread(), 'no frame after the close frame').to.deep.equal([]);
    });

    it('on server.close(), sends bye SHUTDOWN, then a close 1000, and ends TCP within seconds though the client never answers', async () => {
      const { server, port } = await start();
      const raw = await member(port, 'ada');
      const closing = server.close();
      expect(await raw.nextJson('bye')).to.include({ code: 'SHUTDOWN' });
      const close = await raw.nextFrame();
      expect(close.opcode).to.equal(Op.close);
      expect(closeCode(close)).to.equal(1000);
      await raw.waitEnded(5000);
      expect(raw.unread()).to.deep.equal([]);
      await closing;
    });

    it('ends TCP once the client answers the server close', async () => {
      const { server, port } = await start();
      const raw = await member(port, 'ada');
      server.kick('ada');
      const close = await raw.nextClose();
      expect(closeCode(close)).to.equal(1000);
      await raw.send({ opcode: Op.close, payload: closePayload(1000) });
      await raw.waitEnded(3000);
      expect(raw.unread()).to.deep.equal([]);
    });

    it('sees a client that ends TCP without a close frame as gone', async () => {
      const started = await start();
      const raw = await member(started.port, 'ada');
      expect(started.server.metrics().connections).to.equal(1);
      raw.socket.end();
      await until(() => started.server.metrics().connections === 0, 'the server to drop the connection');
      await until(() => started.disconnects.length === 1, 'onDisconnect');
      expect(started.disconnects).to.deep.equal(['CLOSED']);
      expect(started.server.online()).to.deep.equal([]);
    });

    it('sees a client that resets TCP as gone', async () => {
      const started = await start();
      const raw = await member(started.port, 'ada');
      raw.socket.resetAndDestroy();
      await until(() => started.server.metrics().connections === 0, 'the server to drop the connection');
      await until(() => started.disconnects.length === 1, 'onDisconnect');
      expect(started.disconnects).to.deep.equal(['CLOSED']);
    });
  });

  describe('ping and pong (§5.5.2, §5.5.3)', () => {
    const payloads: { what: string; payload: Buffer }[] = [
      { what: 'an empty payload', payload: Buffer.alloc(0) },
      { what: 'a text payload', payload: Buffer.from('are you there?') },
      { what: '125 bytes of binary', payload: Buffer.from(Array.from({ length: 125 }, (_, i) => (i * 37) & 0xff)) },
    ];
    for (const { what, payload } of payloads) {
      it(`answers a ping with ${what} with a pong carrying the same payload`, async () => {
        const { port } = await start();
        const raw = await RawWs.open(port);
        await raw.send({ opcode: Op.ping, payload });
        const pong = await raw.nextFrame();
        expect(pong.opcode).to.equal(Op.pong);
        expect(pong.fin).to.equal(true);
        expectServerFrame(pong);
        expect(pong.payload.equals(payload)).to.equal(true);
      });
    }

    it('answers a ping after welcome, and takes an unsolicited pong without answering it', async () => {
      const { port } = await start();
      const raw = await member(port, 'ada');
      await raw.send({ opcode: Op.pong, payload: 'unsolicited' });
      await raw.send({ opcode: Op.ping, payload: 'p' });
      const pong = await raw.nextFrame();
      expect(pong.opcode).to.equal(Op.pong);
      expect(pong.payload.toString()).to.equal('p');
      await raw.sendJson({ type: 'ping', ts: 9 });
      expect(await raw.nextJson('pong')).to.include({ ts: 9 });
      expect(raw.unread()).to.deep.equal([]);
    });
  });

  describe('server frames', () => {
    it('are unmasked, final, text frames with no RSV bit and the shortest length encoding', async () => {
      const { port } = await start();
      const ada = await member(port, 'ada');
      await join(ada, 'r', 1);
      for (const [ref, size] of [[2, 10], [3, 1000], [4, 70_000]] as const) {
        await ada.sendJson({ type: 'publish', ref, room: 'r', data: 'y'.repeat(size) });
        expect(await ada.nextJson('ok')).to.include({ ref });
      }
      await ada.sendJson({ type: 'join', ref: 5, room: 'r' });
      expect(await ada.nextJson('error')).to.include({ code: 'ALREADY_JOINED' });
      await ada.sendJson({ type: 'ping', ts: 6 });
      await ada.nextJson('pong');
      expect(ada.frames.map((frame) => frame.lengthBits)).to.include.members([7, 16, 64]);
      for (const frame of ada.frames) expectMessageFrame(frame);
    });
  });
});
