import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryStore, type HubEvent } from '@msghub/messagehub';
import { expect } from 'chai';
import { HubServer, WsAdapter, type HubServerOptions, type TransportSocket } from '../src/index.js';
import { delay } from './helpers.js';
import { Op, RawWs, closeCode, closePayload, encodeFrame } from './raw-ws.js';

// msghub's own WebSocket connection (ws-socket.ts) under backpressure, slow peers and every way a
// connection ends, against a real server on port 0 and raw clients that write exact bytes.

/** A memory store whose commits wait while held: publishes stay in flight, and the server stops reading their sender. */
class GatedStore extends MemoryStore {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  holdCommits(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  releaseCommits(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  override append<T>(room: string, events: readonly HubEvent<T>[]): void | Promise<void> {
    const gate = this.#gate;
    if (gate === undefined) return super.append(room, events);
    return gate.then(() => super.append(room, events));
  }
}

// Memory tests measure what stays reachable, after a full collection.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Bytes reachable from the JS heap and the buffers outside it, after a full collection. */
function retainedBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

const servers: HubServer[] = [];
const stores: GatedStore[] = [];
const adapters: WsAdapter[] = [];

/** A WebSocket adapter on its own, its one connection started with a handler that records frames. */
async function carrier(maxFrameBytes = 64 * 1024): Promise<{ port: number; accepted: Promise<TransportSocket>; frames: string[] }> {
  const adapter = new WsAdapter({ port: 0, maxFrameBytes });
  adapters.push(adapter);
  const frames: string[] = [];
  let accept: (socket: TransportSocket) => void = () => {};
  const accepted = new Promise<TransportSocket>((resolve) => (accept = resolve));
  await adapter.listen((socket) => {
    socket.start({ frame: (text) => frames.push(text), invalid: () => {}, drain: () => {}, closed: () => {} });
    accept(socket);
  });
  return { port: adapter.address()?.port ?? 0, accepted, frames };
}

async function start(options: HubServerOptions = {}): Promise<{ server: HubServer; port: number; store: GatedStore }> {
  const store = new GatedStore();
  stores.push(store);
  const server = new HubServer({ trustClientUser: true, heartbeatMs: 0, rateLimit: false, store, ...options });
  servers.push(server);
  const { ws } = await server.listen({ ws: { port: 0 } });
  if (ws === undefined) throw new Error('no WebSocket address');
  return { server, port: ws.port, store };
}

async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

function text(frame: object): Buffer {
  return encodeFrame({ opcode: Op.text, payload: JSON.stringify(frame) });
}

function publishes(from: number, count: number): Buffer {
  const frames: Buffer[] = [];
  for (let i = from; i < from + count; i++) frames.push(text({ type: 'publish', room: 'r', data: i }));
  return Buffer.concat(frames);
}

/** A connection past `welcome`, joined to `room`. */
async function joined(port: number, user: string, room: string): Promise<RawWs> {
  const raw = await RawWs.open(port);
  await raw.write(Buffer.concat([text({ type: 'hello', v: 1, user }), text({ type: 'join', ref: 'j', room })]));
  await raw.nextJson('welcome');
  expect(await raw.nextJson('ok')).to.include({ ref: 'j' });
  return raw;
}

/** The messages of the room events `raw` received so far. */
function messages(raw: RawWs): unknown[] {
  const out: unknown[] = [];
  for (const frame of raw.frames) {
    if (frame.opcode !== Op.text) continue;
    const json = JSON.parse(frame.payload.toString('utf8')) as { type: string; event?: { type: string; message?: unknown } };
    if (json.type === 'event' && json.event?.type === 'message') out.push(json.event.message);
  }
  return out;
}

const range = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe('WsSocket', () => {
  afterEach(async () => {
    for (const store of stores.splice(0)) store.releaseCommits();
    RawWs.destroyAll();
    await Promise.all(servers.map((server) => server.close()));
    servers.length = 0;
    await Promise.all(adapters.splice(0).map((adapter) => adapter.stop()));
  });

  describe('#pause and #resume', () => {
    it('reads every frame kept while paused though the peer closes and ends TCP meanwhile', async () => {
      const { port, store } = await start({ maxPendingPublishes: 1 });
      const bob = await joined(port, 'bob', 'r');
      const ada = await joined(port, 'ada', 'r');
      store.holdCommits();
      // The first publish stops reading; the rest, the close frame and the FIN arrive meanwhile.
      ada.socket.end(Buffer.concat([publishes(0, 50), encodeFrame({ opcode: Op.close, payload: closePayload(1000) })]));
      await delay(50);
      store.releaseCommits();
      await until(() => messages(bob).length >= 50, '50 messages');
      expect(messages(bob)).to.deep.equal(range(50));
    });
  });

  describe('#end', () => {
    it("reads the peer's answer to its close frame on a paused connection, and ends TCP without a reset", async () => {
      const { server, port, store } = await start({ maxPendingPublishes: 1 });
      const ada = await joined(port, 'ada', 'r');
      let reset = false;
      ada.socket.on('error', () => (reset = true));
      store.holdCommits();
      const framesIn = server.metrics().framesIn;
      await ada.write(publishes(0, 1));
      await until(() => server.metrics().framesIn > framesIn, 'the publish');
      // Far more than the server reads ahead while paused: what it never reads resets TCP on close.
      await ada.write(publishes(1, 20_000));
      server.kick('ada');
      const close = await ada.nextClose();
      expect(closeCode(close)).to.equal(1000);
      await ada.send({ opcode: Op.close, payload: closePayload(1000) });
      await ada.waitClosed(5000);
      expect(reset, 'TCP reset').to.equal(false);
    });
  });

  describe('ping', () => {
    it('answers only the latest ping while its writes wait for drain, so a peer that pings and never reads cannot grow its buffer', async function () {
      this.timeout(20_000);
      const { port, accepted, frames } = await carrier();
      const raw = await RawWs.open(port);
      const socket = await accepted;
      raw.socket.pause();
      // 16 MiB of pings, numbered: far more pongs than the kernel's buffers on both ends take.
      const count = 128_000;
      const ping = (i: number): Buffer => {
        const payload = Buffer.alloc(125, 0x2e);
        payload.writeUInt32BE(i, 0);
        return encodeFrame({ opcode: Op.ping, payload });
      };
      for (let from = 0; from < count; from += 8000) {
        await raw.write(Buffer.concat(Array.from({ length: 8000 }, (_, i) => ping(from + i))));
      }
      await raw.send({ opcode: Op.text, payload: 'done' });
      await until(() => frames.includes('done'), 'the last frame', 10_000);
      expect(socket.bufferedAmount, 'bytes the server holds for the peer').to.be.below(1024 * 1024);
      raw.socket.resume();
      await until(() => raw.frames.at(-1)?.payload.readUInt32BE(0) === count - 1, 'the pong to the last ping', 10_000);
      const answered = raw.frames.map((frame) => (frame.opcode === Op.pong ? frame.payload.readUInt32BE(0) : -1));
      expect(answered.every((n, i) => n >= 0 && (i === 0 || n > (answered[i - 1] as number))), 'pongs in ping order, each once').to.equal(true);
    });
  });

  describe('frames in progress', () => {
    it('holds the bytes of a frame in progress, not the many small TCP reads they came in', async function () {
      this.timeout(30_000);
      const { port, frames } = await carrier(1024 * 1024);
      const raw = await RawWs.open(port);
      const length = 96 * 1024;
      const frame = encodeFrame({ opcode: Op.text, payload: 'a'.repeat(length) });
      // The header and 30,000 bytes of payload in 3000 writes of 10 bytes, each read on its own.
      const dripped = 14 + 30_000;
      const cuts = Array.from({ length: 3000 }, (_, i) => 14 + i * 10);
      const before = retainedBytes();
      await raw.write(frame.subarray(0, dripped), cuts);
      await delay(200);
      const held = retainedBytes() - before;
      expect(held, 'bytes held for 30 KB of a frame in progress').to.be.below(256 * 1024);
      await raw.write(frame.subarray(dripped));
      await until(() => frames.length === 1, 'the frame');
      expect(frames[0]).to.equal('a'.repeat(length));
    });
  });

  describe('fragmented messages', () => {
    it('holds the bytes of a message in progress, not the frames they came in, however small its fragments and whatever comes between them', async function () {
      this.timeout(30_000);
      const { port, frames } = await carrier(1024 * 1024);
      const raw = await RawWs.open(port);
      // Each write: 4,000 one-byte fragments, then 52 KB of unsolicited pongs (read and ignored).
      const batch = Buffer.concat([
        ...Array.from({ length: 4000 }, () => encodeFrame({ opcode: Op.continuation, fin: false, payload: 'y' })),
        ...Array.from({ length: 400 }, () => encodeFrame({ opcode: Op.pong, payload: Buffer.alloc(125) })),
      ]);
      const batches = 200;
      const before = retainedBytes();
      await raw.send({ opcode: Op.text, fin: false, payload: 'x' });
      for (let i = 0; i < batches; i++) await raw.write(batch);
      // A ping after them: its pong tells that the server has read everything before it.
      await raw.send({ opcode: Op.ping, payload: 'read' });
      expect((await raw.nextFrame()).opcode).to.equal(Op.pong);
      const held = retainedBytes() - before;
      // 800 KB of payload came in 16 MB of frames.
      expect(held, 'bytes held for the message in progress').to.be.below(4 * 1024 * 1024);
      await raw.send({ opcode: Op.continuation, payload: 'z' });
      await until(() => frames.length === 1, 'the message');
      expect(frames[0]).to.equal(`x${'y'.repeat(4000 * batches)}z`);
    });
  });

  describe('#write', () => {
    it('loses none of what it wrote when written to again after the peer ended TCP', async function () {
      this.timeout(20_000);
      const { port, accepted } = await carrier();
      const raw = await RawWs.open(port);
      const socket = await accepted;
      raw.socket.pause();
      // 8 MB that wait in the server's buffer while the peer does not read.
      const frame = JSON.stringify({ type: 'event', data: 'x'.repeat(1000) });
      for (let i = 0; i < 8000; i++) socket.write([frame]);
      raw.socket.end();
      await delay(100);
      socket.write([JSON.stringify({ type: 'late' })]);
      raw.socket.resume();
      await raw.waitClosed(10_000);
      expect(raw.frames.length, 'frames written before the end').to.be.at.least(8000);
      expect(raw.frames.slice(0, 8000).every((received) => received.payload.toString('utf8') === frame)).to.equal(true);
    });
  });
});
