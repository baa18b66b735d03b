/**
 * The one suite every RoomStore runs: the in-memory store here, the file store in @msghub/datalog
 * and the Redis store in @msghub/cluster call {@link describeRoomStore} with their own factory.
 */
import { expect } from 'chai';
import type { HubEvent, RoomState, RoomStore } from '../src/index.js';
import { MessageHub } from '../src/index.js';
import { record } from './helpers.js';

/** A store under test, and what the suite may do with it. */
export interface StoreFixture {
  readonly store: RoomStore;
  /**
   * A new store over the same durable state (a restart), after closing this one; undefined for a
   * store that keeps nothing beyond its own life.
   */
  readonly reopen?: () => Promise<StoreFixture>;
  /** Frees what the fixture holds (files, connections). */
  readonly dispose: () => Promise<void>;
}

export function message(room: string, id: number, text = `m${id}`): HubEvent<string> {
  return { id, chatroomId: room, type: 'message', userId: 'ada', message: text, unixTime: 1_700_000_000_000 + id };
}

function lines(store: RoomStore, events: readonly HubEvent<string>[]): string[] | undefined {
  return store.encodes ? events.map((event) => JSON.stringify(event)) : undefined;
}

async function append(store: RoomStore, room: string, events: readonly HubEvent<string>[]): Promise<void> {
  await store.append(room, events, lines(store, events));
}

/** The fields every store answers `open` with (a sequencing store adds `members`). */
function position<T>(state: RoomState<T>): RoomState<T> {
  return { epoch: state.epoch, lastEventId: state.lastEventId, history: state.history };
}

function batch(room: string, from: number, to: number): HubEvent<string>[] {
  return Array.from({ length: to - from + 1 }, (_, i) => message(room, from + i));
}

export function describeRoomStore(name: string, create: () => Promise<StoreFixture>): void {
  describe(`RoomStore conformance: ${name}`, () => {
    let fixture: StoreFixture;
    beforeEach(async () => {
      fixture = await create();
    });
    afterEach(async () => {
      await fixture.dispose();
    });

    it('opens a room it has never seen with a new epoch, id 0 and no history', async () => {
      const a = await fixture.store.open<string>('a', { historySize: 10 });
      const b = await fixture.store.open<string>('b', { historySize: 10 });
      expect(position(a)).to.deep.equal({ epoch: a.epoch, lastEventId: 0, history: [] });
      expect(a.epoch).to.match(/^[A-Za-z0-9_-]{16,}$/);
      expect(b.epoch).to.not.equal(a.epoch);
    });

    it('opens a released room again where it stopped: same epoch, last id and history tail', async () => {
      const { store } = fixture;
      const first = await store.open<string>('lobby', { historySize: 3 });
      await append(store, 'lobby', batch('lobby', 1, 4));
      await append(store, 'lobby', batch('lobby', 5, 5));
      await store.release('lobby');
      const again = await store.open<string>('lobby', { historySize: 3 });
      expect(position(again)).to.deep.equal({ epoch: first.epoch, lastEventId: 5, history: batch('lobby', 3, 5) });
    });

    it('keeps rooms apart', async () => {
      const { store } = fixture;
      await store.open('a', { historySize: 10 });
      await store.open('b', { historySize: 10 });
      await append(store, 'a', batch('a', 1, 3));
      await append(store, 'b', batch('b', 1, 1));
      await store.release('a');
      await store.release('b');
      expect((await store.open('a', { historySize: 10 })).lastEventId).to.equal(3);
      expect((await store.open('b', { historySize: 10 })).history).to.deep.equal(batch('b', 1, 1));
    });

    it('reads the events after since, oldest first, at most limit', async () => {
      const { store } = fixture;
      await store.open('lobby', { historySize: 100 });
      await append(store, 'lobby', batch('lobby', 1, 10));
      expect(await store.read('lobby', 7)).to.deep.equal(batch('lobby', 8, 10));
      expect(await store.read('lobby', 0, 2)).to.deep.equal(batch('lobby', 1, 2));
      expect(await store.read('lobby', 10)).to.deep.equal([]);
      expect(await store.read('nowhere', 0)).to.deep.equal([]);
    });

    it('gives no history for historySize 0 and keeps counting', async () => {
      const { store } = fixture;
      await store.open('lobby', { historySize: 0 });
      await append(store, 'lobby', batch('lobby', 1, 3));
      await store.release('lobby');
      expect(await store.open('lobby', { historySize: 0 })).to.include({ lastEventId: 3 }).and.have.property('history').that.is.empty;
    });

    it('lets a hub go on at the next id after a close, and resume across it with no gap', async () => {
      const { store } = fixture;
      const first = new MessageHub({ chatroomId: 'lobby', store });
      await first.publish('one', { from: 'ada' });
      await first.close();
      const second = new MessageHub({ chatroomId: 'lobby', store });
      const resumed = record(second.add('ada', 's1', { since: 1, epoch: first.epoch }));
      expect(await second.publish('two', { from: 'ada' })).to.equal(4);
      await second.close();
      const events = await resumed.done;
      expect(second.epoch).to.equal(first.epoch);
      expect(events.map((e) => e.type)).to.deep.equal(['close', 'join', 'message', 'close']);
      expect(events.map((e) => (e.type === 'gap' ? 'gap' : e.id))).to.deep.equal([2, 3, 4, 5]);
    });

    it('takes appends issued before the previous one resolved (a room pipelines its batches) and commits them in order', async function () {
      const { store } = fixture;
      // A store that sequences rooms itself gives the ids; its hub appends one batch at a time.
      if (store.sequences === true) this.skip();
      await store.open('lobby', { historySize: 100 });
      await Promise.all([append(store, 'lobby', batch('lobby', 1, 3)), append(store, 'lobby', batch('lobby', 4, 4)), append(store, 'lobby', batch('lobby', 5, 9))]);
      expect(await store.read('lobby', 0)).to.deep.equal(batch('lobby', 1, 9));
      await store.release('lobby');
      expect((await store.open('lobby', { historySize: 100 })).lastEventId).to.equal(9);
    });

    it('survives a restart: a new store over the same state has the epoch, last id and history', async function () {
      if (fixture.reopen === undefined) this.skip();
      const { store } = fixture;
      const first = await store.open<string>('lobby', { historySize: 2 });
      await append(store, 'lobby', batch('lobby', 1, 3));
      fixture = await fixture.reopen();
      const again = await fixture.store.open<string>('lobby', { historySize: 2 });
      expect(position(again)).to.deep.equal({ epoch: first.epoch, lastEventId: 3, history: batch('lobby', 2, 3) });
      expect(await fixture.store.read('lobby', 1)).to.deep.equal(batch('lobby', 2, 3));
    });
  });
}
