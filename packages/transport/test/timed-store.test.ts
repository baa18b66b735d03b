import { expect } from 'chai';
import { MemoryStore, MessageHub, StoreError, type HubEvent, type RoomOpenOptions, type RoomState, type RoomStore } from '@msghub/messagehub';
import { TimedStore } from '../src/timed-store.js';

interface Observed {
  readonly room: string;
  readonly ids: number[];
  readonly seconds: number;
}

function timed(store: RoomStore): { store: TimedStore; observed: Observed[] } {
  const observed: Observed[] = [];
  return { store: new TimedStore(store, (room, events, seconds) => observed.push({ room, ids: events.map((e) => e.id), seconds })), observed };
}

/** A memory store whose commits settle later, or fail. */
class SlowStore implements RoomStore {
  readonly encodes = false;
  readonly #store = new MemoryStore();
  fail = false;

  open<T>(room: string, options: RoomOpenOptions): RoomState<T> | Promise<RoomState<T>> {
    return this.#store.open<T>(room, options);
  }
  append<T>(room: string, events: readonly HubEvent<T>[]): Promise<void> {
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        if (this.fail) reject(new Error('disk full'));
        else resolve(this.#store.append(room, events));
      }, 5),
    );
  }
  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]> {
    return this.#store.read<T>(room, since, limit);
  }
  release(): void {
    this.#store.release();
  }
}

describe('TimedStore', () => {
  describe('#append', () => {
    it('reports every committed batch of a room with its events and a duration, and the room runs as on the store itself', async () => {
      const { store, observed } = timed(new MemoryStore());
      const hub = new MessageHub<string>({ chatroomId: 'lobby', store });
      await hub.publish('one', { from: 'ada' });
      await Promise.all([hub.publish('two', { from: 'ada' }), hub.publish('three', { from: 'ada' })]);
      await hub.close();
      expect(observed.flatMap((o) => o.ids)).to.deep.equal([1, 2, 3, 4]);
      expect(observed.every((o) => o.room === 'lobby' && o.seconds >= 0)).to.equal(true);
      expect(observed.length).to.equal(hub.stats().commits);
      // The same store, opened again: the room goes on at its next id.
      const again = new MessageHub<string>({ chatroomId: 'lobby', store });
      expect(await again.publish('four', { from: 'ada' })).to.equal(5);
      expect((await again.read(0)).map((e) => e.id)).to.deep.equal([1, 2, 3, 4, 5]);
      await again.close();
    });

    it('reports an asynchronous commit once it has settled, with the time it took', async () => {
      const { store, observed } = timed(new SlowStore());
      const hub = new MessageHub<string>({ chatroomId: 'lobby', store });
      const id = hub.publish('one', { from: 'ada' });
      expect(observed).to.deep.equal([]);
      expect(await id).to.equal(1);
      expect(observed).to.have.length(1);
      expect(observed[0]?.seconds).to.be.greaterThan(0.001);
      await hub.close();
    });

    it('reports nothing for a commit that failed, and the room fails as on the store itself', async () => {
      const slow = new SlowStore();
      slow.fail = true;
      const { store, observed } = timed(slow);
      const hub = new MessageHub<string>({ chatroomId: 'lobby', store, onError: () => {} });
      const error = await hub.publish('one', { from: 'ada' }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(StoreError);
      expect(observed).to.deep.equal([]);
      await hub.close();
    });
  });
});
