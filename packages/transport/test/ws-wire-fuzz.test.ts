import { expect } from 'chai';
import fc from 'fast-check';
import { HubServer } from '../src/index.js';
import { Op, RawWs, closeCode, encodeFrame, type WireFrame } from './raw-ws.js';

// Property tests of the WebSocket frame reader over real sockets: whatever way a client's bytes are
// cut into TCP writes, valid frames are all read, in order; and whatever bytes a client sends, the
// server answers only with frames or one close frame with a protocol code, and stays up for others.

const PROTOCOL_CLOSE_CODES = [1002, 1007, 1009];

/** One thing a well-behaved client sends, and what the server answers it with. */
type Item =
  | { kind: 'ping-frame'; ts: number } // a protocol `ping` in one text frame: `pong` with the same ts
  | { kind: 'ping-fragments'; ts: number; cuts: number[]; control: boolean } // the same, fragmented, maybe a ping between
  | { kind: 'ws-ping'; payload: Buffer }; // a WebSocket ping: a pong with the same payload

const item: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ kind: fc.constant('ping-frame' as const), ts: fc.nat() }),
  fc.record({
    kind: fc.constant('ping-fragments' as const),
    ts: fc.nat(),
    cuts: fc.uniqueArray(fc.integer({ min: 1, max: 14 }), { maxLength: 4 }),
    control: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('ws-ping' as const), payload: fc.uint8Array({ maxLength: 125, size: 'max' }).map((bytes) => Buffer.from(bytes)) }),
);

/** The bytes of `item`, and the answers it must get (as `pong:<ts>` and `ws-pong:<hex>`). */
function encode(value: Item): { bytes: Buffer; answers: string[] } {
  if (value.kind === 'ws-ping') {
    return { bytes: encodeFrame({ opcode: Op.ping, payload: value.payload }), answers: [`ws-pong:${value.payload.toString('hex')}`] };
  }
  const text = Buffer.from(JSON.stringify({ type: 'ping', ts: value.ts }));
  if (value.kind === 'ping-frame') return { bytes: encodeFrame({ opcode: Op.text, payload: text }), answers: [`pong:${value.ts}`] };
  const cuts = [...value.cuts].filter((cut) => cut < text.length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    pieces.push(text.subarray(from, cut));
    from = cut;
  }
  const frames: Buffer[] = [];
  const answers: string[] = [];
  pieces.forEach((piece, i) => {
    frames.push(encodeFrame({ opcode: i === 0 ? Op.text : Op.continuation, payload: piece, fin: i === pieces.length - 1 }));
    if (value.control && i === 0 && pieces.length > 1) {
      frames.push(encodeFrame({ opcode: Op.ping, payload: 'between' }));
      answers.push(`ws-pong:${Buffer.from('between').toString('hex')}`);
    }
  });
  answers.push(`pong:${value.ts}`);
  return { bytes: Buffer.concat(frames), answers };
}

function answerOf(frame: WireFrame): string {
  if (frame.opcode === Op.pong) return `ws-pong:${frame.payload.toString('hex')}`;
  if (frame.opcode !== Op.text) return `opcode ${frame.opcode}`;
  const json = JSON.parse(frame.payload.toString('utf8')) as { type: string; ts?: number };
  return json.type === 'pong' ? `pong:${String(json.ts)}` : json.type;
}

async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('WebSocket frame reader, property tests on the wire', function () {
  this.timeout(120_000);
  let server: HubServer;
  let port: number;

  before(async () => {
    server = new HubServer({ trustClientUser: true, heartbeatMs: 0, rateLimit: false });
    const { ws } = await server.listen({ ws: { port: 0 } });
    port = ws?.port ?? 0;
  });

  afterEach(() => RawWs.destroyAll());
  after(() => server.close());

  /** A connection past `welcome`. */
  async function welcomed(): Promise<RawWs> {
    const raw = await RawWs.open(port);
    await raw.sendJson({ type: 'hello', v: 1, user: 'fuzz' });
    await raw.nextJson('welcome');
    return raw;
  }

  it('reads every valid frame in order however the bytes are cut into TCP writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), async (items, cutSeeds) => {
        const raw = await welcomed();
        const encoded = items.map(encode);
        const bytes = Buffer.concat(encoded.map((e) => e.bytes));
        const expected = encoded.flatMap((e) => e.answers);
        const cuts = [...new Set(cutSeeds.map((seed) => seed % bytes.length))].sort((a, b) => a - b);
        const seen = raw.frames.length;
        await raw.write(bytes, cuts);
        await until(() => raw.frames.length - seen >= expected.length, `${expected.length} answers`);
        // WebSocket pongs may overtake protocol answers (both are answers the server owes at once),
        // but each kind keeps its own order.
        const answers = raw.frames.slice(seen).map(answerOf);
        const only = (prefix: string, list: string[]): string[] => list.filter((a) => a.startsWith(prefix));
        expect(only('pong:', answers)).to.deep.equal(only('pong:', expected));
        expect(only('ws-pong:', answers)).to.deep.equal(only('ws-pong:', expected));
        expect(raw.ended, 'the connection stays open').to.equal(false);
        raw.socket.destroy();
      }),
      { numRuns: 40 },
    );
  });

  it('answers any bytes with frames or one protocol close, never crashes, and serves the next client', async () => {
    const garbage = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
      // A frame header with random bits and a short payload: mostly wrong in one way or another.
      fc
        .record({ b0: fc.integer({ min: 0, max: 255 }), masked: fc.boolean(), payload: fc.uint8Array({ maxLength: 130, size: 'max' }) })
        .map(({ b0, masked, payload }) => {
          const frame = encodeFrame({ opcode: b0 & 0x0f, fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, mask: masked, payload: Buffer.from(payload) });
          return frame;
        }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(garbage, { minLength: 1, maxLength: 6 }), async (chunks) => {
        const raw = await welcomed();
        const seen = raw.frames.length;
        for (const chunk of chunks) {
          if (raw.ended) break;
          await raw.write(chunk);
        }
        // Whatever happened, a ping still gets its answer unless the connection was closed.
        await raw.write(encodeFrame({ opcode: Op.ping, payload: 'still there?' })).catch(() => undefined);
        await until(() => raw.ended || raw.frames.slice(seen).some((f) => f.opcode === Op.close || f.opcode === Op.pong), 'an answer or a close', 3000).catch(
          () => undefined, // a declared length the bytes never reach keeps the server waiting for more: allowed
        );
        const frames = raw.frames.slice(seen);
        const closeAt = frames.findIndex((f) => f.opcode === Op.close);
        if (closeAt >= 0) {
          expect(PROTOCOL_CLOSE_CODES).to.include(closeCode(frames[closeAt] as WireFrame));
          expect(frames.length, 'nothing after the close frame').to.equal(closeAt + 1);
          await raw.waitEnded(3000);
        }
        for (const frame of frames) expect([Op.text, Op.pong, Op.close]).to.include(frame.opcode);
        raw.socket.destroy();
        const next = await welcomed();
        next.socket.destroy();
      }),
      { numRuns: 40 },
    );
    expect(server.status).to.equal('running');
  });
});
