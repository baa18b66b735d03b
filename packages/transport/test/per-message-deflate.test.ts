import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { deflateRawSync } from 'node:zlib';
import WebSocket from 'ws';
import { HubServer, WsAdapter, type HubServerOptions } from '../src/index.js';
import { resolvePerMessageDeflate } from '../src/per-message-deflate.js';
import { TestClient, cleanup, delay } from './helpers.js';

// permessage-deflate against a real server on port 0 with real ws clients: what is negotiated,
// what crosses the wire, and that order, bounds and input limits hold with compression on.

interface Wired {
  server: HubServer;
  url: string;
  /** Bytes the server has written to all its sockets so far. */
  written(): number;
}

const servers: HubServer[] = [];

/** A server on its own WebSocket adapter, so the test can count what its sockets write. */
async function wired(options: HubServerOptions): Promise<Wired> {
  const server = new HubServer({ trustClientUser: true, heartbeatMs: 0, ...options });
  servers.push(server);
  const adapter = new WsAdapter({ port: 0, maxFrameBytes: options.maxFrameBytes ?? 1024 * 1024, perMessageDeflate: options.perMessageDeflate ?? false });
  const sockets: Socket[] = [];
  adapter.httpServer.on('connection', (socket: Socket) => sockets.push(socket));
  await server.addAdapter(adapter);
  const { port } = adapter.address() as AddressInfo;
  return { server, url: `ws://127.0.0.1:${port}/`, written: () => sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0) };
}

/** A ws client that offers permessage-deflate (ws's default) or not, past welcome as `user`. */
async function member(url: string, user: string, offer: boolean): Promise<{ ws: WebSocket; frames: Record<string, unknown>[] }> {
  const ws = new WebSocket(url, { perMessageDeflate: offer });
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
  ws.on('error', () => {});
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'hello', v: 1, user }));
  await until(() => frames.some((frame) => frame['type'] === 'welcome'), 'welcome');
  return { ws, frames };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

async function join(client: { ws: WebSocket; frames: Record<string, unknown>[] }, room: string): Promise<void> {
  client.ws.send(JSON.stringify({ type: 'join', room, ref: 1 }));
  await until(() => client.frames.some((frame) => frame['type'] === 'ok' && frame['ref'] === 1), `join ${room}`);
}

function messagesOf(frames: readonly Record<string, unknown>[]): { id: number; message: unknown }[] {
  return frames
    .filter((frame) => frame['type'] === 'event' && (frame['event'] as { type: string }).type === 'message')
    .map((frame) => {
      const event = frame['event'] as { id: number; message: unknown };
      return { id: event.id, message: event.message };
    });
}

/** A chat-like text of `words` words that does not repeat itself. */
function chatText(seed: number, words: number): string {
  const vocabulary = 'the meeting is moved to three and lunch will be late so bring coffee please thanks see you there ok'.split(' ');
  let state = seed;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out.push(vocabulary[state % vocabulary.length] as string);
  }
  return out.join(' ');
}

describe('perMessageDeflate', () => {
  afterEach(async () => {
    await TestClient.closeAll();
    await Promise.all(servers.splice(0).map((server) => server.close()));
    await cleanup();
  });

  describe('options', () => {
    it('is off by default and takes true or the documented fields', () => {
      expect(resolvePerMessageDeflate(undefined)).to.equal(false);
      expect(resolvePerMessageDeflate(false)).to.equal(false);
      expect(resolvePerMessageDeflate(true)).to.deep.equal({
        threshold: 128,
        level: 1,
        memLevel: 8,
        serverMaxWindowBits: 15,
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
      });
      expect(resolvePerMessageDeflate({ threshold: 0, level: 9, serverMaxWindowBits: 10 })).to.include({ threshold: 0, level: 9, serverMaxWindowBits: 10, memLevel: 8 });
    });

    it('throws a TypeError at construction for a bad value', () => {
      const bad: unknown[] = ['yes', 1, null, [], { threshold: -1 }, { threshold: 1.5 }, { level: 10 }, { memLevel: 0 }, { serverMaxWindowBits: 8 }, { serverNoContextTakeover: 'no' }, { concurrencyLimit: 4 }];
      for (const value of bad) {
        expect(() => new HubServer({ perMessageDeflate: value as boolean }), JSON.stringify(value)).to.throw(TypeError);
      }
    });
  });

  it('is not offered by default: a client that asks for it connects uncompressed', async () => {
    const { url } = await wired({});
    const client = await member(url, 'ada', true);
    expect(client.ws.extensions).to.equal('');
  });

  it('is negotiated with a client that offers it, and not forced on one that does not', async () => {
    const { url } = await wired({ perMessageDeflate: true });
    const offering = await member(url, 'ada', true);
    const plain = await member(url, 'bob', false);
    expect(offering.ws.extensions).to.match(/^permessage-deflate/);
    expect(plain.ws.extensions).to.equal('');
    // Both get the same events, each in its own way.
    await join(offering, 'lobby');
    await join(plain, 'lobby');
    offering.ws.send(JSON.stringify({ type: 'publish', room: 'lobby', data: { text: chatText(1, 60) }, ref: 2 }));
    await until(() => messagesOf(plain.frames).length === 1 && messagesOf(offering.frames).length === 1, 'the message on both');
    expect(messagesOf(plain.frames)).to.deep.equal(messagesOf(offering.frames));
  });

  it('puts fewer bytes on the wire for chat traffic, the same events arriving', async () => {
    const run = async (perMessageDeflate: HubServerOptions['perMessageDeflate']): Promise<{ bytes: number; got: { id: number; message: unknown }[] }> => {
      const hub = await wired({ perMessageDeflate, rateLimit: false });
      const client = await member(hub.url, 'ada', true);
      await join(client, 'lobby');
      const room = hub.server.rooms.get('lobby')!;
      const before = hub.written();
      for (let i = 0; i < 200; i++) await room.message('bob', { text: chatText(i, 12) });
      await until(() => messagesOf(client.frames).length === 200, '200 messages');
      return { bytes: hub.written() - before, got: messagesOf(client.frames) };
    };
    const plain = await run(false);
    const deflated = await run(true);
    expect(deflated.got).to.deep.equal(plain.got);
    expect(deflated.got.map((m) => m.id)).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 2));
    // Context takeover: the frame envelope repeats in every event and costs a few bytes after the first.
    expect(deflated.bytes).to.be.below(plain.bytes * 0.6);
  });

  it('leaves frames under the threshold uncompressed', async () => {
    /** Bytes the server writes for 50 messages to one member that offers compression or not. */
    const run = async (options: HubServerOptions, offer: boolean): Promise<number> => {
      const hub = await wired(options);
      const client = await member(hub.url, 'ada', offer);
      await join(client, 'lobby');
      const before = hub.written();
      const room = hub.server.rooms.get('lobby')!;
      for (let i = 0; i < 50; i++) await room.message('bob', { text: chatText(i, 12) });
      await until(() => messagesOf(client.frames).length === 50, '50 messages');
      return hub.written() - before;
    };
    const all = await run({ perMessageDeflate: { threshold: 0 } }, true);
    const none = await run({ perMessageDeflate: { threshold: 64 * 1024 } }, true);
    const plain = await run({}, false);
    // Over the threshold nothing is compressed: exactly the bytes of a connection without the extension.
    expect(none).to.equal(plain);
    expect(all).to.be.below(plain * 0.6);
  });

  it('delivers every event in order to many compressing members, mixing small and large frames', async () => {
    const hub = await wired({ perMessageDeflate: { threshold: 100 }, rateLimit: false });
    const members = await Promise.all(['a', 'b', 'c', 'd'].map((user) => member(hub.url, user, true)));
    for (const client of members) await join(client, 'lobby');
    const room = hub.server.rooms.get('lobby')!;
    const sent: unknown[] = [];
    const publishing: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) {
      const message = i % 3 === 0 ? { n: i } : { n: i, text: chatText(i, i % 7 === 0 ? 400 : 15) };
      sent.push(message);
      publishing.push(room.message('server', message));
    }
    await Promise.all(publishing);
    await until(() => members.every((client) => messagesOf(client.frames).length === 1000), 'every message at every member');
    for (const client of members) {
      expect(messagesOf(client.frames).map((m) => m.message)).to.deep.equal(sent);
      const ids = messagesOf(client.frames).map((m) => m.id);
      expect(ids).to.deep.equal([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).to.equal(1000);
    }
  });

  it('keeps the outbox bound: a member that stops reading is closed with SLOW_CONSUMER, the others go on', async function () {
    this.timeout(60_000);
    const hub = await wired({ perMessageDeflate: { threshold: 0 }, rateLimit: false, maxQueuedFrames: 1024, maxQueuedBytes: 1024 * 1024 });
    const reader = await member(hub.url, 'reader', true);
    await join(reader, 'lobby');
    const stuck = await rawMember(hub.url, 'stuck', 'lobby');
    const joinedBy = (user: string) => (frame: Record<string, unknown>): boolean =>
      frame['type'] === 'event' && (frame['event'] as { type: string; userId: string }).type === 'join' && (frame['event'] as { userId: string }).userId === user;
    await until(() => reader.frames.some(joinedBy('stuck')), 'the stuck member joining');
    stuck.pause();
    const room = hub.server.rooms.get('lobby')!;
    // Random text barely compresses: the kernel's buffers fill, then the stuck member's outbox.
    // Paced by the member that reads, so that it never falls behind whatever the machine's load.
    let sent = 0;
    for (; sent < 2000 && hub.server.metrics().slowConsumerCloses === 0; sent++) {
      await room.message('server', { n: sent, text: randomText(16 * 1024) });
      await until(() => messagesOf(reader.frames).length >= sent - 8, 'the reading member to keep up');
    }
    expect(hub.server.metrics().slowConsumerCloses).to.equal(1);
    expect(hub.server.online()).to.deep.equal(['reader']);
    await until(() => messagesOf(reader.frames).length === sent, 'every message at the reading member', 30_000);
    expect(messagesOf(reader.frames).map((m) => (m.message as { n: number }).n)).to.deep.equal(Array.from({ length: sent }, (_, i) => i));
    expect(reader.ws.readyState).to.equal(WebSocket.OPEN);
    stuck.destroy();
  });

  it('inflates compressed client frames, and applies maxFrameBytes to the inflated size', async () => {
    const hub = await wired({ perMessageDeflate: true, maxFrameBytes: 64 * 1024, rateLimit: false });
    const client = await member(hub.url, 'ada', true);
    await join(client, 'lobby');
    // ws compresses every message of a client with context takeover.
    client.ws.send(JSON.stringify({ type: 'publish', room: 'lobby', data: chatText(3, 500), ref: 2 }));
    await until(() => client.frames.some((frame) => frame['type'] === 'ok' && frame['ref'] === 2), 'ok 2');
    // 1 MiB of one letter deflates to about 1 KiB; inflated, it is over the bound.
    const big = JSON.stringify({ type: 'publish', room: 'lobby', data: 'a'.repeat(1024 * 1024), ref: 3 });
    expect(deflateRawSync(big).length).to.be.below(4096);
    client.ws.send(big);
    await until(() => client.frames.some((frame) => frame['type'] === 'error'), 'an error');
    expect(client.frames.find((frame) => frame['type'] === 'error')).to.include({ code: 'FRAME_TOO_LARGE' });
    // The connection survives and goes on.
    client.ws.send(JSON.stringify({ type: 'publish', room: 'lobby', data: 'after', ref: 4 }));
    await until(() => client.frames.some((frame) => frame['type'] === 'ok' && frame['ref'] === 4), 'ok 4');
    expect(messagesOf(client.frames).map((m) => m.message)).to.deep.equal([chatText(3, 500), 'after']);
  });

  it('closes a connection whose compressed frame inflates past the largest frame ws reads (1009), and serves the others', async () => {
    const hub = await wired({ perMessageDeflate: true, rateLimit: false });
    const other = await member(hub.url, 'bob', true);
    const client = await member(hub.url, 'ada', true);
    const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    client.ws.send(JSON.stringify({ type: 'publish', room: 'lobby', data: 'a'.repeat(8 * 1024 * 1024) }));
    expect(await closed).to.equal(1009);
    await join(other, 'lobby');
  });
});

/** A WebSocket client written by hand (no ws, no inflate): offers permessage-deflate, says hello, joins, and can stop reading. */
async function rawMember(url: string, user: string, room: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      'Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n',
  );
  let head = '';
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  expect(head).to.match(/^HTTP\/1\.1 101/);
  expect(head.toLowerCase()).to.include('sec-websocket-extensions: permessage-deflate');
  socket.on('data', () => {});
  for (const frame of [{ type: 'hello', v: 1, user }, { type: 'join', room }]) socket.write(maskedTextFrame(JSON.stringify(frame)));
  return socket;
}

/** One uncompressed, masked text frame (payloads under 64 KiB). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([header, mask, masked]);
}

function randomText(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(Math.random() * alphabet.length)];
  return text;
}
