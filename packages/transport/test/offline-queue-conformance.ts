/**
 * The one suite every OfflineQueue runs: the in-memory queue and the file queue call
 * {@link describeOfflineQueue} with their own factory; a queue that survives a restart also gets the
 * restart cases.
 */
import { expect } from 'chai';
import type { DirectFrame, MemoryOfflineQueueOptions, OfflineQueue } from '../src/index.js';

/** A queue under test, and what the suite may do with it. */
export interface QueueFixture {
  readonly queue: OfflineQueue;
  /** A new queue over the same durable state (a restart), after closing this one; undefined for a queue that keeps nothing. */
  readonly reopen?: (options?: MemoryOfflineQueueOptions) => Promise<QueueFixture>;
  /** Frees what the fixture holds (files). */
  readonly dispose: () => Promise<void>;
}

export const direct = (id: string | number, data: unknown = id): DirectFrame => ({ type: 'direct', id: String(id), from: 'ada', data, ts: 0 });

async function ids(queue: OfflineQueue, userId: string): Promise<string[]> {
  return (await queue.pending(userId)).map((message) => message.id);
}

/** @param durable whether the queue survives a restart: its fixture has `reopen`, and the restart cases run */
export function describeOfflineQueue(
  name: string,
  create: (options: MemoryOfflineQueueOptions) => Promise<QueueFixture>,
  durable = false,
): void {
  describe(`OfflineQueue conformance: ${name}`, () => {
    let fixture: QueueFixture | undefined;
    let now = 0;
    const clock = (): number => now;
    const make = async (options: MemoryOfflineQueueOptions = {}): Promise<OfflineQueue> => {
      fixture = await create({ clock, ...options });
      return fixture.queue;
    };

    beforeEach(() => {
      now = 1_000_000;
    });
    afterEach(async () => {
      await fixture?.dispose();
      fixture = undefined;
    });

    describe('#pending and #ack', () => {
      it('hands out a user’s messages in order, again and again, until they are acknowledged', async () => {
        const queue = await make();
        for (const id of ['a', 'b', 'c']) expect(await queue.push('bob', direct(id))).to.equal(true);
        expect(await queue.pending('bob')).to.deep.equal([direct('a'), direct('b'), direct('c')]);
        expect(await ids(queue, 'bob')).to.deep.equal(['a', 'b', 'c']);
        await queue.ack('bob', ['b']);
        expect(await ids(queue, 'bob')).to.deep.equal(['a', 'c']);
        await queue.ack('bob', ['a', 'c']);
        expect(await queue.pending('bob')).to.deep.equal([]);
      });

      it('ignores ids it does not hold and ids acknowledged by another user', async () => {
        const queue = await make();
        await queue.push('bob', direct('a'));
        await queue.push('eve', direct('e'));
        await queue.ack('eve', ['a']);
        await queue.ack('bob', ['nope', 'e']);
        await queue.ack('nobody', ['a']);
        expect(await ids(queue, 'bob')).to.deep.equal(['a']);
        expect(await ids(queue, 'eve')).to.deep.equal(['e']);
      });
    });

    describe('bounds', () => {
      it('refuses past maxPerUser and maxUsers, and takes more once messages are acknowledged', async () => {
        const queue = await make({ maxPerUser: 2, maxUsers: 1 });
        expect(await queue.push('bob', direct(1))).to.equal(true);
        expect(await queue.push('bob', direct(2))).to.equal(true);
        expect(await queue.push('bob', direct(3))).to.equal(false);
        expect(await queue.push('eve', direct(4))).to.equal(false);
        await queue.ack('bob', ['1']);
        expect(await queue.push('bob', direct(5))).to.equal(true);
        await queue.ack('bob', ['2', '5']);
        expect(await queue.push('eve', direct(6))).to.equal(true);
        expect(await ids(queue, 'eve')).to.deep.equal(['6']);
      });

      it('gives the place of a user whose messages all expired to a new user, every time it happens', async () => {
        const queue = await make({ maxUsers: 1, ttlMs: 100 });
        expect(await queue.push('ann', direct(1))).to.equal(true);
        expect(await queue.push('bob', direct(2))).to.equal(false);
        now += 100;
        expect(await queue.push('bob', direct(3))).to.equal(true);
        now += 50;
        expect(await queue.push('eve', direct(4))).to.equal(false);
        now += 50;
        expect(await queue.push('eve', direct(5))).to.equal(true);
        expect(await ids(queue, 'eve')).to.deep.equal(['5']);
        expect(await queue.pending('ann')).to.deep.equal([]);
        expect(await queue.pending('bob')).to.deep.equal([]);
      });
    });

    describe('ttl', () => {
      it('never hands out a message past the queue’s TTL, and frees its place', async () => {
        const queue = await make({ maxPerUser: 1, ttlMs: 100 });
        await queue.push('bob', direct(1));
        now += 99;
        expect(await ids(queue, 'bob')).to.deep.equal(['1']);
        now += 1;
        expect(await queue.pending('bob')).to.deep.equal([]);
        expect(await queue.push('bob', direct(2))).to.equal(true);
        expect(await ids(queue, 'bob')).to.deep.equal(['2']);
      });

      it('keeps a message for the shorter of the sender’s ttlMs and its own TTL', async () => {
        const queue = await make({ ttlMs: 1000 });
        await queue.push('bob', direct('short'), 10);
        await queue.push('bob', direct('long'), 5000);
        await queue.push('bob', direct('default'));
        now += 10;
        expect(await ids(queue, 'bob')).to.deep.equal(['long', 'default']);
        now += 990;
        expect(await queue.pending('bob')).to.deep.equal([]);
      });

      it('makes room in a full list by dropping expired messages wherever they sit', async () => {
        const queue = await make({ maxPerUser: 2, ttlMs: 1000 });
        await queue.push('bob', direct('long'));
        await queue.push('bob', direct('short'), 10);
        expect(await queue.push('bob', direct('refused'))).to.equal(false);
        now += 10;
        expect(await queue.push('bob', direct('new'))).to.equal(true);
        expect(await ids(queue, 'bob')).to.deep.equal(['long', 'new']);
      });
    });

    if (!durable) return;
    const reopen = async (): Promise<OfflineQueue> => {
      if (fixture?.reopen === undefined) throw new Error(`${name} has no reopen`);
      fixture = await fixture.reopen();
      return fixture.queue;
    };

    describe('restart', () => {
      it('keeps every unacknowledged, unexpired message, in order, and forgets acknowledged ones', async () => {
        const queue = await make({ ttlMs: 1000 });
        for (const id of ['a', 'b', 'c', 'd']) await queue.push('bob', direct(id, { text: id, n: [1, 2] }));
        await queue.push('eve', direct('short'), 10);
        await queue.ack('bob', ['b']);
        let again = await reopen();
        expect(await again.pending('bob')).to.deep.equal(['a', 'c', 'd'].map((id) => direct(id, { text: id, n: [1, 2] })));
        expect(await ids(again, 'eve')).to.deep.equal(['short']);
        now += 10;
        again = await reopen();
        expect(await again.pending('eve')).to.deep.equal([]);
        await again.ack('bob', ['a']);
        expect(await again.push('bob', direct('e'))).to.equal(true);
        again = await reopen();
        expect(await ids(again, 'bob')).to.deep.equal(['c', 'd', 'e']);
      });

      it('keeps what it held past bounds that were lowered since, refusing new messages until below them', async () => {
        const queue = await make({ maxPerUser: 3 });
        for (const id of ['a', 'b', 'c']) await queue.push('bob', direct(id));
        if (fixture?.reopen === undefined) throw new Error(`${name} has no reopen`);
        fixture = await fixture.reopen({ maxPerUser: 2 });
        expect(await ids(fixture.queue, 'bob')).to.deep.equal(['a', 'b', 'c']);
        expect(await fixture.queue.push('bob', direct('d'))).to.equal(false);
        await fixture.queue.ack('bob', ['a', 'b']);
        expect(await fixture.queue.push('bob', direct('e'))).to.equal(true);
      });
    });
  });
}
