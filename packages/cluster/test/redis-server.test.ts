import { expect } from 'chai';
import { Redis } from 'ioredis';
import { RedisServer } from './redis-server.js';

describe('RedisServer (test harness)', () => {
  it('runs a private redis-server on a free port, never 6379, and stops it by pid', async () => {
    const server = await RedisServer.start();
    const pid = server.pid as number;
    expect(server.port).to.not.equal(6379);
    const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await redis.connect();
    const info = await redis.info('server');
    expect(info).to.include(`process_id:${pid}`);
    expect(info).to.include(`tcp_port:${server.port}`);
    redis.disconnect();
    await server.stop();
    expect(server.pid).to.equal(undefined);
    expect(() => process.kill(pid, 0)).to.throw();
  });

  it('keeps what AOF wrote across a restart on the same port', async () => {
    const server = await RedisServer.start({ persistence: 'always' });
    try {
      const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
      await redis.set('kept', 'yes');
      await server.restart();
      expect(await redis.get('kept')).to.equal('yes');
      redis.disconnect();
    } finally {
      await server.stop();
    }
  });
});
