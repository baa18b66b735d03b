import { expect } from 'chai';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { MsghubClient } from '../src/client.js';
import { tcpConnector } from '../src/tcp-connector.js';
import { TcpFrameDecoder, encodeTcpFrame } from '../src/tcp-framing.js';
import { waitFor } from './harness.js';

describe('tcpConnector', () => {
  it('closes a connection whose peer stopped reading, with megabytes unsent', async function () {
    this.timeout(10_000);
    const sockets: Socket[] = [];
    // A server that welcomes, then never reads again: the client's writes pile up unsent.
    const server = createServer((socket) => {
      sockets.push(socket);
      const decoder = new TcpFrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        if (decoder.push(chunk).length === 0) return;
        socket.pause();
        const welcome = { type: 'welcome', v: 1, userId: 'ada', connectionId: 'Jm3eXo1vT0q6a9LbZx4W2g', heartbeatMs: 0, maxFrameBytes: 1 << 20 };
        socket.write(encodeTcpFrame(JSON.stringify(welcome)));
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new MsghubClient({ connector: tcpConnector({ port }), reconnect: false });
    try {
      await waitFor(client.state$, (s) => s === 'connected');
      const data = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 512; i++) expect(client.publish('lobby', data)).to.equal('sent');
      let closed = false;
      const closing = client.close().then(() => {
        closed = true;
      });
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 8000).unref())]);
      expect(closed).to.equal(true);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
