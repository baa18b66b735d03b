import { expect } from 'chai';
import { sweepInterval } from '../src/heartbeat.js';
import { cleanup, startServer } from './helpers.js';

describe('heartbeat', () => {
  afterEach(cleanup);

  describe('sweepInterval', () => {
    it('is a quarter of the shortest deadline, between 5 ms and 1 s', () => {
      expect(sweepInterval({ authTimeoutMs: 5000, heartbeatMs: 25000, pongTimeoutMs: 10000, idleTimeoutMs: 0, writeTimeoutMs: 30000 })).to.equal(1000);
      expect(sweepInterval({ authTimeoutMs: 5000, heartbeatMs: 100, pongTimeoutMs: 10000, idleTimeoutMs: 0, writeTimeoutMs: 0 })).to.equal(25);
      expect(sweepInterval({ authTimeoutMs: 4, heartbeatMs: 0, pongTimeoutMs: 10000, idleTimeoutMs: 0, writeTimeoutMs: 30000 })).to.equal(5);
    });
  });

  it('pings a silent client and keeps it while it answers', async () => {
    const { user, server } = await startServer({ heartbeatMs: 30, pongTimeoutMs: 60 });
    const ada = await user('ada', 'tcp');
    for (let i = 0; i < 3; i++) {
      const ping = await ada.next('ping');
      expect(ping['ts']).to.be.a('number');
      ada.send({ type: 'pong', ts: ping['ts'] });
    }
    expect(server.metrics().heartbeatCloses).to.equal(0);
    expect(ada.isClosed).to.equal(false);
  });

  it('closes a peer that does not answer with HEARTBEAT_TIMEOUT; the room sees it leave', async () => {
    const { user, server } = await startServer({ heartbeatMs: 20, pongTimeoutMs: 30 });
    const dead = await user('dead');
    dead.send({ type: 'join', ref: 1, room: 'x' });
    await dead.next('ok');
    const hub = server.rooms.get('x');
    expect(await dead.next('bye')).to.include({ code: 'HEARTBEAT_TIMEOUT' });
    await dead.closed;
    expect(await hub?.isOnline('dead')).to.equal(false);
    expect(server.metrics().heartbeatCloses).to.equal(1);
  });

  it('closes a connection that sends nothing for idleTimeoutMs with IDLE_TIMEOUT', async () => {
    const { user } = await startServer({ heartbeatMs: 0, idleTimeoutMs: 40 });
    const idle = await user('idle');
    expect(await idle.next('bye')).to.include({ code: 'IDLE_TIMEOUT' });
    await idle.closed;
  });

  it('does not count pongs as activity for the idle timeout', async () => {
    const { user } = await startServer({ heartbeatMs: 10, pongTimeoutMs: 1000, idleTimeoutMs: 60 });
    const client = await user('ada');
    const bye = await client.waitFor((frame) => {
      if (frame.type === 'ping') client.send({ type: 'pong', ts: frame['ts'] });
      return frame.type === 'bye';
    });
    expect(bye).to.include({ code: 'IDLE_TIMEOUT' });
  });
});
