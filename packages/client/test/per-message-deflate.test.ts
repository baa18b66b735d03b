import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HubServer, type HubServerOptions } from '@msghub/transport';
import { createClient, type MsghubClient, type RoomItem } from '../src/node.js';
import { until } from './harness.js';

// The Node client against the real server with permessage-deflate on: it negotiates compression by
// itself (ws offers it), and what it receives and sends is the same as without.

interface Run {
  /** Bytes the server wrote to the client's socket while the room's messages went out. */
  bytes: number;
  received: { id: number; message: unknown }[];
}

/** A chat line of 12 words that does not repeat itself. */
function chatLine(seed: number): string {
  const words = 'the meeting moved to three so lunch is late bring coffee thanks see you there ok maybe tomorrow'.split(' ');
  let state = seed + 1;
  const out: string[] = [];
  for (let i = 0; i < 12; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out.push(words[state % words.length] as string);
  }
  return out.join(' ');
}

async function run(perMessageDeflate: HubServerOptions['perMessageDeflate']): Promise<Run> {
  const server = new HubServer({ trustClientUser: true, onError: () => {}, perMessageDeflate });
  const sockets: Socket[] = [];
  const http: Server = createServer((_request, response) => response.writeHead(404).end());
  http.on('connection', (socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  await server.attach(http, { path: '/hub' });
  const { port } = http.address() as AddressInfo;
  let client: MsghubClient | undefined;
  try {
    client = createClient({ url: `ws://127.0.0.1:${port}/hub`, user: 'ada' });
    const items: RoomItem[] = [];
    client.join('lobby').subscribe((item) => items.push(item));
    // The client's own publish travels compressed too, and is committed like any other.
    const id = await client.publishAsync('lobby', { text: chatLine(0) });
    const written = (): number => sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0);
    const before = written();
    const room = server.rooms.get('lobby')!;
    for (let i = 1; i <= 100; i++) await room.message('bob', { text: chatLine(i) });
    const messages = (): { id: number; message: unknown }[] =>
      items.flatMap((item) => ('type' in item && item.type === 'message' ? [{ id: item.id, message: item.message }] : []));
    await until(() => messages().length === 101);
    expect(messages()[0]).to.deep.equal({ id, message: { text: chatLine(0) } });
    return { bytes: written() - before, received: messages() };
  } finally {
    await client?.close();
    await server.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  }
}

describe('the Node client with permessage-deflate', () => {
  it('negotiates compression when the server offers it: the same events for far fewer bytes', async () => {
    const plain = await run(false);
    const deflated = await run({ threshold: 0 });
    expect(deflated.received.map((m) => m.message)).to.deep.equal(plain.received.map((m) => m.message));
    expect(deflated.received.map((m) => m.id)).to.deep.equal(plain.received.map((m) => m.id));
    expect(deflated.bytes).to.be.below(plain.bytes * 0.6);
  });
});
