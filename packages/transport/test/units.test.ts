import { expect } from 'chai';
import fc from 'fast-check';
import { createServer } from 'node:net';
import {
  BadFrameError,
  ForbiddenError,
  FrameTooDeepError,
  FrameTooLargeError,
  InternalError,
  InvalidFieldError,
  InvalidUserIdError,
  MAX_ACK_IDS,
  MAX_DIRECT_TTL_MS,
  MAX_FRAME_DEPTH,
  RoomRegistry,
  TcpFrameDecoder,
  TokenStore,
  UnknownTypeError,
  WireError,
  WsAdapter,
  contentTypeOf,
  decodeFrame,
  encodeTcpFrames,
  toWireError,
} from '../src/index.js';
import type { HubEvent } from '@msghub/messagehub';
import { nestsDeeperThan } from '../src/frame-codec.js';
import { listenOn } from '../src/listening.js';
import { Outbox } from '../src/outbox.js';

describe('decodeFrame', () => {
  it('accepts every client frame type with its fields', () => {
    const frames = [
      { type: 'hello', v: 1, token: 't', meta: { a: 1 } },
      { type: 'join', ref: 1, room: 'r', since: 0 },
      { type: 'leave', ref: 'x', room: 'r' },
      { type: 'publish', room: 'r', data: null },
      { type: 'direct', to: 'u', data: 1, room: 'r' },
      { type: 'direct', ref: 3, to: 'u', data: 1, ttlMs: 1 },
      { type: 'direct', to: 'u', data: 1, ttlMs: MAX_DIRECT_TTL_MS },
      { type: 'ack', direct: ['Jm3eXo1vT0q6a9LbZx4W2g'] },
      { type: 'ack', ref: 'a', direct: Array.from({ length: MAX_ACK_IDS }, (_, i) => `id${i}`) },
      { type: 'request', ref: 2, op: 'o' },
      { type: 'signal', ref: 3, room: 'r', data: { typing: true } },
      { type: 'ping', ts: 1 },
      { type: 'pong' },
      { type: 'bye', reason: 'done' },
    ];
    for (const frame of frames) expect(decodeFrame(JSON.stringify(frame), 64 * 1024)).to.deep.equal(frame);
  });

  it('throws the typed error for each kind of bad frame', () => {
    expect(() => decodeFrame('nope', 1024)).to.throw(BadFrameError);
    expect(() => decodeFrame('"str"', 1024)).to.throw(BadFrameError);
    expect(() => decodeFrame('{"type":"x"}', 1024)).to.throw(UnknownTypeError);
    expect(() => decodeFrame('{"type":"toString"}', 1024)).to.throw(UnknownTypeError);
    expect(() => decodeFrame('{"v":1}', 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame('{"type":"publish","room":"r"}', 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame('{"type":"signal","room":"r"}', 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame('{"type":"signal","room":"","data":1}', 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame('{"type":"join","room":"r","ref":1.5}', 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame(`{"type":"hello","v":1,"user":"${'x'.repeat(257)}"}`, 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame('{"type":"hello","v":1,"user":""}', 1024)).to.throw(InvalidFieldError);
    expect(() => decodeFrame(`{"type":"ping","pad":"${'x'.repeat(100)}"}`, 64)).to.throw(FrameTooLargeError);
  });

  it('refuses a direct ttlMs that is not an integer from 1 to MAX_DIRECT_TTL_MS, or that comes with a room, with InvalidFieldError', () => {
    const bad = [0, -5, 1.5, MAX_DIRECT_TTL_MS + 1, '100', null, [], Number.MAX_SAFE_INTEGER + 2];
    for (const ttlMs of bad) {
      expect(() => decodeFrame(JSON.stringify({ type: 'direct', to: 'u', data: 1, ttlMs }), 1024), String(ttlMs)).to.throw(InvalidFieldError);
    }
    expect(() => decodeFrame('{"type":"direct","to":"u","data":1,"room":"r","ttlMs":100}', 1024)).to.throw(InvalidFieldError);
  });

  it('refuses an ack whose direct is not an array of 1 to MAX_ACK_IDS ids of 1 to 64 characters, with InvalidFieldError', () => {
    const bad: unknown[] = [undefined, 'id', [], [''], ['x'.repeat(65)], [1], [null], ['ok', 2], [['id']], { 0: 'id' }];
    bad.push(Array.from({ length: MAX_ACK_IDS + 1 }, (_, i) => `id${i}`));
    for (const direct of bad) {
      expect(() => decodeFrame(JSON.stringify({ type: 'ack', direct }), 64 * 1024), JSON.stringify(direct)?.slice(0, 40)).to.throw(InvalidFieldError);
    }
    expect(() => decodeFrame('{"type":"ack","ref":1.5,"direct":["id"]}', 1024)).to.throw(InvalidFieldError);
    expect(decodeFrame(JSON.stringify({ type: 'ack', direct: ['x'.repeat(64)] }), 1024)).to.deep.equal({ type: 'ack', direct: ['x'.repeat(64)] });
  });

  it('takes data nested up to 64 levels with the frame, and refuses one level more with FRAME_TOO_DEEP', () => {
    expect(MAX_FRAME_DEPTH).to.equal(64);
    const publish = (depth: number, open = '[', close = ']'): string =>
      `{"type":"publish","ref":1,"room":"r","data":${open.repeat(depth)}${close.repeat(depth)}}`;
    // The frame object is level 1, so `data` itself may be 63 levels deep.
    expect(decodeFrame(publish(63), 1 << 20)).to.have.property('type', 'publish');
    expect(() => decodeFrame(publish(64), 1 << 20)).to.throw(FrameTooDeepError);
    const objects = (depth: number): string => `{"type":"publish","room":"r","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    expect(decodeFrame(objects(63), 1 << 20)).to.have.property('type', 'publish');
    expect(() => decodeFrame(objects(64), 1 << 20)).to.throw(FrameTooDeepError);
    expect(() => decodeFrame(publish(100_000), 1 << 20)).to.throw(FrameTooDeepError);
    // Deep inside a field other than data, or an unknown one, is just as deep.
    expect(() => decodeFrame(`{"type":"hello","v":1,"meta":{"x":${'['.repeat(63)}${']'.repeat(63)}}}`, 1 << 20)).to.throw(FrameTooDeepError);
    expect(() => decodeFrame(`{"type":"ping","pad":${'['.repeat(64)}${']'.repeat(64)}}`, 1 << 20)).to.throw(FrameTooDeepError);
  });

  it('does not count brackets inside strings, escaped quotes included, toward the depth', () => {
    const brackets = '['.repeat(1000) + '{'.repeat(1000);
    const tricky = [brackets, `\\"${brackets}`, `\\\\`, `a\\\"${brackets}\\\\`];
    for (const text of tricky) {
      const frame = `{"type":"publish","room":"r","data":${'['.repeat(62)}"${text}"${']'.repeat(62)}}`;
      expect(decodeFrame(frame, 1 << 20)).to.have.property('type', 'publish');
      const deeper = `{"type":"publish","room":"r","data":["${text}",${'['.repeat(63)}${']'.repeat(63)}]}`;
      expect(() => decodeFrame(deeper, 1 << 20)).to.throw(FrameTooDeepError);
    }
  });

  it('measures the same depth as the parsed value, whatever the strings hold', () => {
    const depthOf = (value: unknown): number =>
      typeof value !== 'object' || value === null ? 0 : 1 + Math.max(0, ...Object.values(value).map(depthOf));
    const unit = fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ' ', '\u2028', '\ud800');
    const json = fc.jsonValue({ maxDepth: 8, stringUnit: unit });
    fc.assert(
      fc.property(json, fc.integer({ min: 0, max: 9 }), fc.boolean(), (value, max, pretty) => {
        const text = pretty ? JSON.stringify(value, null, 1) : JSON.stringify(value);
        expect(nestsDeeperThan(text, max)).to.equal(depthOf(value) > max);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws anything but a WireError, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        try {
          decodeFrame(text, 4096);
        } catch (error) {
          expect(error).to.be.instanceOf(WireError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('TCP framing', () => {
  it('round-trips frames split at every possible chunk boundary', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 8 }), fc.integer({ min: 1, max: 16 }), (texts, chunk) => {
        const bytes = encodeTcpFrames(texts);
        const decoder = new TcpFrameDecoder(1024);
        const out: string[] = [];
        for (let at = 0; at < bytes.length; at += chunk) out.push(...decoder.push(bytes.subarray(at, at + chunk)));
        expect(out).to.deep.equal(texts);
        expect(decoder.buffered).to.equal(0);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a length over the limit, and never more than 4 MiB', () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2000);
    expect(() => new TcpFrameDecoder(1000).push(header)).to.throw(FrameTooLargeError);
    header.writeUInt32BE(4 * 1024 * 1024 + 1);
    expect(() => new TcpFrameDecoder(64 * 1024 * 1024).push(header)).to.throw(FrameTooLargeError);
  });
});

describe('Outbox', () => {
  it('reports overflow under the close policy', () => {
    const outbox = new Outbox(2, 1024, 'close');
    expect(outbox.push('a')).to.equal(true);
    expect(outbox.push('b')).to.equal(true);
    expect(outbox.push('c')).to.equal(false);
  });

  it('counts bytes as well as frames', () => {
    const outbox = new Outbox(100, 1024, 'close');
    expect(outbox.push('x'.repeat(1000))).to.equal(true);
    expect(outbox.push('x'.repeat(100))).to.equal(false);
  });

  it('drops the oldest events and keeps control frames under drop-oldest, merging gaps', () => {
    const outbox = new Outbox(4, 1024, 'drop-oldest');
    outbox.push('{"type":"ok","ref":1}');
    for (let id = 1; id <= 10; id++) outbox.push(`e${id}`, 'r', id);
    const texts = outbox.take();
    expect(texts[0]).to.equal('{"type":"gap","room":"r","since":0,"resumeAt":9,"reason":"dropped"}');
    expect(texts.slice(1)).to.deep.equal(['{"type":"ok","ref":1}', 'e9', 'e10']);
    expect(outbox.dropped).to.equal(8);
  });

  it('reports overflow under drop-oldest when frames it may not drop fill the bound', () => {
    const outbox = new Outbox(4, 1024, 'drop-oldest');
    for (let id = 1; id <= 8; id++) expect(outbox.push(`e${id}`, 'r', id)).to.equal(true);
    outbox.take();
    for (let i = 0; i < 4; i++) expect(outbox.push(`{"type":"direct","id":${i}}`)).to.equal(true);
    expect(outbox.push('{"type":"direct","id":4}')).to.equal(false);
  });
});

describe('TokenStore', () => {
  it('redeems a token once, and not after its ttl', () => {
    let now = 0;
    const tokens = new TokenStore({ ttlMs: 30_000, clock: () => now });
    const a = tokens.issue('ada', { meta: { role: 'x' } });
    const b = tokens.issue('bob');
    expect(a).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.consume(a)).to.deep.equal({ userId: 'ada', meta: { role: 'x' } });
    expect(tokens.consume(a)).to.equal(undefined);
    now = 30_000;
    expect(tokens.consume(b)).to.equal(undefined);
  });

  it('sweeps expired tokens when issuing', () => {
    let now = 0;
    const tokens = new TokenStore({ ttlMs: 10, clock: () => now });
    for (let i = 0; i < 5; i++) tokens.issue('u');
    now = 10;
    tokens.issue('u');
    expect(tokens.size).to.equal(1);
  });

  it('rejects a bad ttl with a TypeError, and a user id outside 1 to 256 characters with InvalidUserIdError', () => {
    expect(() => new TokenStore({ ttlMs: 0 })).to.throw(TypeError);
    for (const userId of ['', 'x'.repeat(257), 5 as unknown as string]) {
      expect(() => new TokenStore().issue(userId)).to.throw(InvalidUserIdError).that.is.instanceOf(TypeError).and.has.property('code', 'INVALID_FIELD');
    }
    expect(new TokenStore().issue('x'.repeat(256))).to.be.a('string');
  });
});

describe('listenOn', () => {
  it('passes errors of a bound server (a failed accept) to onError instead of throwing them', async () => {
    const errors: unknown[] = [];
    const server = createServer();
    await listenOn(server, 0, '127.0.0.1', (error) => errors.push(error));
    const failure = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    server.emit('error', failure);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(errors).to.deep.equal([failure]);
  });

  it('is what the WebSocket adapter binds with, reporting to its onError', async () => {
    const errors: unknown[] = [];
    const adapter = new WsAdapter({ maxFrameBytes: 1024, onError: (error) => errors.push(error) });
    await adapter.listen(() => undefined);
    const failure = new Error('accept EMFILE');
    adapter.httpServer.emit('error', failure);
    await adapter.stop();
    expect(errors).to.deep.equal([failure]);
  });
});

describe('RoomRegistry', () => {
  it('creates on demand only when autoCreate', async () => {
    const auto = new RoomRegistry({ idleTimeoutMs: 0 });
    const explicit = new RoomRegistry({ autoCreate: false, idleTimeoutMs: 0 });
    expect(auto.open('a')).to.not.equal(undefined);
    expect(explicit.open('a')).to.equal(undefined);
    expect(explicit.create('a')).to.equal(explicit.open('a'));
    expect(() => explicit.create('')).to.throw(TypeError);
    await Promise.all([auto.closeAll(), explicit.closeAll()]);
    expect(auto.size + explicit.size).to.equal(0);
  });

  it('closes a room once it has had no member for the idle timeout', async () => {
    const registry = new RoomRegistry({ idleTimeoutMs: 10 });
    const hub = registry.create('a');
    registry.retain('a');
    registry.release('a', hub);
    await hub.closed;
    expect(registry.get('a')).to.equal(undefined);
  });

  it('keeps an idle room for an idle timeout longer than platform timers hold', async () => {
    const registry = new RoomRegistry({ idleTimeoutMs: 2 ** 32 });
    const hub = registry.create('a');
    // Platform timers run a longer delay after 1 ms; this one fires well after that.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(hub.status).to.equal('running');
    expect(registry.get('a')).to.equal(hub);
    await registry.closeAll();
  });

  it('reports a throwing onRoomCreated and keeps the room', async () => {
    const errors: unknown[] = [];
    const registry = new RoomRegistry({
      idleTimeoutMs: 0,
      onRoomCreated: () => {
        throw new Error('hook');
      },
      onError: (error) => errors.push(error),
    });
    expect(registry.create('a').status).to.equal('running');
    expect(errors).to.have.length(1);
    await registry.closeAll();
  });
});

describe('RoomRegistry and its store', () => {
  const event = (chatroomId: string, id: number): HubEvent<unknown> => ({ id, chatroomId, type: 'message', message: id, unixTime: 0 });

  it('re-creates a closed room from where it stopped, in the same epoch', async () => {
    const registry = new RoomRegistry({ idleTimeoutMs: 0 });
    const first = registry.create('r');
    await first.system('x');
    await registry.close('r');
    const second = registry.create('r');
    expect(await second.publish('y')).to.equal(3);
    expect(second.epoch).to.equal(first.epoch);
    expect((await second.getHistory()).map((e) => e.id)).to.deep.equal([1, 2, 3]);
    await registry.closeAll();
  });

  it('seeds the default store with seedRoom for a room it has never seen, and only then', async () => {
    const asked: string[] = [];
    const registry = new RoomRegistry({
      idleTimeoutMs: 0,
      seedRoom: (room) => {
        asked.push(room);
        return room === 'old' ? { lastEventId: 7, history: [event('old', 7)] } : undefined;
      },
    });
    const old = registry.create('old');
    expect(await old.publish('next')).to.equal(8);
    await registry.close('old');
    expect(await registry.create('old').publish('again')).to.equal(10);
    expect(await registry.create('new').publish('first')).to.equal(1);
    expect(asked).to.deep.equal(['old', 'new']);
    await registry.closeAll();
  });
});

describe('toWireError', () => {
  it('keeps wire errors and foreign wire codes, and hides everything else as INTERNAL', () => {
    const forbidden = new ForbiddenError('no');
    expect(toWireError(forbidden)).to.equal(forbidden);
    const closed = Object.assign(new Error('closed'), { code: 'CLOSED' });
    expect(toWireError(closed).code).to.equal('CLOSED');
    expect(toWireError(new InvalidUserIdError('long')).code).to.equal('INVALID_FIELD');
    expect(toWireError(new Error('x'))).to.be.instanceOf(InternalError);
    expect(toWireError('string')).to.be.instanceOf(InternalError);
  });
});

describe('contentTypeOf', () => {
  it('maps extensions to content types', () => {
    expect(contentTypeOf('/msghub.js')).to.equal('text/javascript; charset=utf-8');
    expect(contentTypeOf('/a.map')).to.equal('application/json; charset=utf-8');
    expect(contentTypeOf('/blob')).to.equal('application/octet-stream');
  });
});
