import { expect } from 'chai';
import { InvalidUserIdError, MemoryOfflineQueue, OfflineError, type OfflineQueue } from '../src/index.js';
import type { DirectFrame } from '../src/protocol.js';
import { cleanup, delay, startServer } from './helpers.js';

/** Waits until `condition` holds, checking every few ms, for at most 2 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 2000) throw new Error('condition not met within 2 s');
    await delay(5);
  }
}

/** A memory queue that also records the TTL of every message pushed. */
function recordingQueue(): { queue: OfflineQueue; ttls: (number | undefined)[] } {
  const inner = new MemoryOfflineQueue();
  const ttls: (number | undefined)[] = [];
  return {
    ttls,
    queue: {
      push: (userId: string, message: DirectFrame, ttlMs?: number) => {
        ttls.push(ttlMs);
        return inner.push(userId, message, ttlMs);
      },
      pending: (userId: string) => inner.pending(userId),
      ack: (userId: string, ids: readonly string[]) => inner.ack(userId, ids),
    },
  };
}

describe('HubServer server-side sends', () => {
  afterEach(cleanup);

  describe('#online', () => {
    it('lists every user with a connection once, and forgets one whose last connection closed', async () => {
      const { server, user } = await startServer();
      expect(server.online()).to.deep.equal([]);
      const ada = await user('ada');
      await user('ada', 'tcp');
      const bob = await user('bob');
      expect(server.online()).to.have.members(['ada', 'bob']).and.have.length(2);
      ada.close();
      bob.close();
      await Promise.all([ada.closed, bob.closed]);
      // ada is still connected over TCP.
      await until(() => server.online().length === 1);
      expect(server.online()).to.deep.equal(['ada']);
    });
  });

  describe('#connections', () => {
    it('lists each authenticated connection with its id, user, carrier, address and rooms', async () => {
      const { server, user, ws } = await startServer();
      const ada = await user('ada');
      ada.send({ type: 'join', ref: 1, room: 'lobby' });
      await ada.next('ok');
      const adaTcp = await user('ada', 'tcp');
      await ws(); // not authenticated: not listed
      const listed = server.connections();
      expect(listed).to.have.length(2);
      const byCarrier = new Map(listed.map((c) => [c.carrier, c]));
      expect(byCarrier.get('ws')).to.deep.include({ userId: 'ada', rooms: ['lobby'] });
      expect(byCarrier.get('tcp')).to.deep.include({ userId: 'ada', rooms: [] });
      for (const c of listed) {
        expect(c.id).to.match(/^[A-Za-z0-9_-]{22}$/);
        expect(c.remoteAddress).to.be.a('string').and.match(/127\.0\.0\.1$/);
      }
      expect(new Set(listed.map((c) => c.id)).size).to.equal(2);
      adaTcp.close();
      await adaTcp.closed;
      await until(() => server.connections().length === 1);
      expect(server.connections().map((c) => c.carrier)).to.deep.equal(['ws']);
    });
  });

  describe('#send', () => {
    it('delivers to every connection of an online user, from the server unless `from` is given', async () => {
      const { server, user } = await startServer();
      const one = await user('ada');
      const two = await user('ada', 'tcp');
      const id = await server.send('ada', { text: 'hi' });
      for (const client of [one, two]) expect(await client.next('direct')).to.deep.include({ id, from: '', data: { text: 'hi' } });
      const signed = await server.send('ada', 'x', { from: 'billing' });
      expect(await one.next('direct')).to.include({ id: signed, from: 'billing' });
    });

    it('queues for an offline user with the TTL given, and delivers on their next connection', async () => {
      const recorded = recordingQueue();
      const { server, user } = await startServer({ offlineQueue: recorded.queue });
      const id = await server.send('carol', 'later', { ttlMs: 60_000 });
      expect(recorded.ttls).to.deep.equal([60_000]);
      const carol = await user('carol');
      expect(await carol.next('direct')).to.include({ id, data: 'later' });
    });

    it('fails with OfflineError (OFFLINE) for ttlMs 0 and an offline user, and queues nothing', async () => {
      const recorded = recordingQueue();
      const { server, user } = await startServer({ offlineQueue: recorded.queue });
      const error = await server.send('dave', 'now or never', { ttlMs: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(OfflineError).and.have.property('code', 'OFFLINE');
      expect(recorded.ttls).to.deep.equal([]);
      const dave = await user('dave');
      // A round trip: anything queued for dave would have been sent before this answer.
      dave.send({ type: 'request', ref: 1, op: 'online', data: { user: 'dave' } });
      await dave.next('response');
      expect(dave.frames.filter((f) => f.type === 'direct')).to.deep.equal([]);
    });

    it('delivers ttlMs 0 to an online user without queueing it', async () => {
      const recorded = recordingQueue();
      const { server, user } = await startServer({ offlineQueue: recorded.queue });
      const eve = await user('eve');
      const id = await server.send('eve', 'now', { ttlMs: 0 });
      expect(await eve.next('direct')).to.include({ id, data: 'now' });
      expect(recorded.ttls).to.deep.equal([]);
    });

    it('throws typed errors for a bad user id, ttlMs, from or data', async () => {
      const { server } = await startServer();
      expect(() => server.send('', 1)).to.throw(InvalidUserIdError);
      expect(() => server.send('x'.repeat(257), 1)).to.throw(InvalidUserIdError);
      for (const ttlMs of [-1, 1.5, 2_592_000_001, Number.NaN]) expect(() => server.send('ada', 1, { ttlMs }), String(ttlMs)).to.throw(TypeError);
      expect(() => server.send('ada', 1, { from: 7 as unknown as string })).to.throw(TypeError);
      expect(() => server.send('ada', 1n)).to.throw(TypeError);
      expect(() => server.send('ada', undefined)).to.throw(TypeError);
    });
  });
});
