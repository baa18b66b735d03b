import { expect } from 'chai';
import {
  ClosedError,
  MemoryStore,
  MessageHub,
  StoreError,
  UnencodableError,
  type HubError,
  type HubEvent,
  type RoomState,
  type RoomStore,
} from '../src/index.js';
import { clock, record, turns } from './helpers.js';

/** A memory store whose appends wait until the test lets them through, or fail. */
class GatedStore implements RoomStore {
  readonly encodes: boolean;
  readonly inner = new MemoryStore();
  readonly batches: number[][] = [];
  readonly lines: (readonly string[] | undefined)[] = [];
  #gate: Promise<void> = Promise.resolve();
  #open!: () => void;
  failNext = false;

  constructor(encodes = false) {
    this.encodes = encodes;
  }

  hold(): void {
    this.#gate = new Promise<void>((resolve) => {
      this.#open = resolve;
    });
  }

  letThrough(): void {
    this.#open();
  }

  open<T>(room: string, options: { historySize: number }): RoomState<T> {
    return this.inner.open<T>(room, options);
  }

  async append<T>(room: string, events: readonly HubEvent<T>[], lines: readonly string[] | undefined): Promise<void> {
    await this.#gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    this.batches.push(events.map((e) => e.id));
    this.lines.push(lines);
    this.inner.append(room, events);
  }

  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]> {
    return this.inner.read<T>(room, since, limit);
  }

  release(): void {}
}

/** A memory store whose every append waits until the test resolves or fails it, one by one. */
class ManualStore implements RoomStore {
  readonly encodes = false;
  readonly inner = new MemoryStore();
  /** Appends not settled yet, in the order they were issued. */
  readonly pending: { ids: number[]; resolve: () => void; reject: (error: unknown) => void }[] = [];

  open<T>(room: string, options: { historySize: number }): RoomState<T> {
    return this.inner.open<T>(room, options);
  }

  append<T>(room: string, events: readonly HubEvent<T>[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        this.inner.append(room, events);
        resolve();
      };
      this.pending.push({ ids: events.map((e) => e.id), resolve: settle, reject });
    });
  }

  read<T>(room: string, since: number, limit?: number): Promise<HubEvent<T>[]> {
    return this.inner.read<T>(room, since, limit);
  }

  release(): void {}

  /** Settles the append holding event `id`. */
  take(id: number): { resolve: () => void; reject: (error: unknown) => void } {
    const found = this.pending.find((append) => append.ids.includes(id));
    if (found === undefined) throw new Error(`no append holds event ${id}`);
    return found;
  }
}

describe('MessageHub and its store', () => {
  describe('pipelined commit', () => {
    it('appends the next batch while one waits for its store, and delivers each only after its own append, in id order', async () => {
      const store = new ManualStore();
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock });
      const logged: number[] = [];
      hub.attachListener((e) => void logged.push(e.id));
      const ada = record(hub.add('ada', 's1'));
      await turns(3);
      store.take(1).resolve();
      await turns(3);
      const acked: number[] = [];
      void hub.publish('one', { from: 'ada' }).then((id) => acked.push(id));
      await turns(3);
      void hub.publish('two', { from: 'ada' }).then((id) => acked.push(id));
      await turns(3);
      // Both batches are with the store at once.
      expect(store.pending.map((append) => append.ids)).to.deep.equal([[1], [2], [3]]);
      store.take(3).resolve();
      await turns(5);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1]);
      expect(logged).to.deep.equal([1]);
      expect(acked).to.deep.equal([]);
      expect(hub.lastEventId).to.equal(1);
      store.take(2).resolve();
      await turns(5);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1, 2, 3]);
      expect(logged).to.deep.equal([1, 2, 3]);
      expect(acked).to.deep.equal([2, 3]);
      expect(hub.lastEventId).to.equal(3);
      const closed = hub.close();
      await turns(3);
      store.take(4).resolve();
      await closed;
    });

    it('keeps at most 4 batches in flight; the room takes more as they are delivered', async () => {
      const store = new ManualStore();
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock });
      await hub.getHistory();
      const acks: Promise<number>[] = [];
      for (let i = 0; i < 6; i++) {
        acks.push(hub.publish(`m${i}`, { from: 'ada' }));
        await turns(3);
      }
      expect(store.pending.map((append) => append.ids)).to.deep.equal([[1], [2], [3], [4]]);
      store.take(1).resolve();
      await turns(5);
      expect(store.pending.map((append) => append.ids)).to.deep.equal([[1], [2], [3], [4], [5, 6]]);
      for (const id of [2, 3, 4, 5]) store.take(id).resolve();
      expect(await Promise.all(acks)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      const closed = hub.close();
      await turns(3);
      store.take(7).resolve();
      await closed;
    });

    it('when an append fails, delivers the batches before it and none after it, and rejects their publishers', async () => {
      const store = new ManualStore();
      const errors: HubError[] = [];
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock, onError: (e) => errors.push(e) });
      const ada = record(hub.add('ada', 's1'));
      await turns(3);
      const outcomes = ['one', 'two', 'three'].map((text) => {
        const outcome = hub.publish(text, { from: 'ada' }).catch((error: unknown) => error);
        return outcome;
      });
      for (let i = 0; i < 3; i++) await turns(3);
      expect(store.pending.map((append) => append.ids)).to.deep.equal([[1], [2, 3, 4]]);
      const later = hub.publish('four', { from: 'ada' }).catch((error: unknown) => error);
      await turns(3);
      expect(store.pending.map((append) => append.ids)).to.deep.equal([[1], [2, 3, 4], [5]]);
      // The later batch's append resolves first: it still waits for the one before it.
      store.take(5).resolve();
      store.take(1).resolve();
      await turns(5);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1]);
      store.take(2).reject(new Error('disk full'));
      for (const outcome of [...outcomes, later]) {
        expect(await outcome).to.be.instanceOf(StoreError).with.property('code', 'STORE_FAILED');
      }
      expect(await ada.done.catch((error: unknown) => error)).to.be.instanceOf(StoreError);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1]);
      await hub.closed;
      expect(hub.lastEventId).to.equal(1);
      expect(hub.failure).to.be.instanceOf(StoreError);
      expect(errors).to.have.length(1);
    });
  });

  describe('commit, then deliver', () => {
    it('hands nothing to sessions, listeners or publishers before the store has committed it', async () => {
      const store = new GatedStore();
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock });
      const logged: number[] = [];
      hub.attachListener((e) => void logged.push(e.id));
      const ada = record(hub.add('ada', 's1'));
      await hub.getHistory();
      store.hold();
      let acked: number | undefined;
      void hub.publish('hello', { from: 'ada' }).then((id) => (acked = id));
      await turns(5);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1]);
      expect(logged).to.deep.equal([1]);
      expect(acked).to.equal(undefined);
      expect(hub.lastEventId).to.equal(1);
      store.letThrough();
      await turns(5);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1, 2]);
      expect(logged).to.deep.equal([1, 2]);
      expect(acked).to.equal(2);
      expect(hub.lastEventId).to.equal(2);
      await hub.close();
    });

    it('commits a drained batch with one append (group commit)', async () => {
      const store = new GatedStore();
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock });
      await hub.getHistory();
      store.hold();
      void hub.message('ada', 'first'); // its batch waits for the store
      await turns(2);
      const acks = Array.from({ length: 50 }, (_, i) => hub.publish(`m${i}`, { from: 'ada' }));
      store.letThrough();
      expect(await Promise.all(acks)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 2));
      expect(store.batches).to.deep.equal([[1], Array.from({ length: 50 }, (_, i) => i + 2)]);
      await hub.close();
    });

    it('stops the room when a commit fails: publishers rejected, sessions ended, nothing of the batch delivered', async () => {
      const store = new GatedStore();
      const errors: HubError[] = [];
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock, onError: (e) => errors.push(e) });
      const ada = record(hub.add('ada', 's1'));
      await hub.getHistory();
      store.failNext = true;
      const outcome = await hub.publish('lost?', { from: 'ada' }).catch((error: unknown) => error);
      expect(outcome).to.be.instanceOf(StoreError).with.property('code', 'STORE_FAILED');
      expect(await ada.done.catch((error: unknown) => error)).to.be.instanceOf(StoreError);
      expect(ada.events.map((e) => e.id)).to.deep.equal([1]);
      await hub.closed;
      expect(hub.status).to.equal('closed');
      expect(hub.failure).to.be.instanceOf(StoreError);
      expect(errors).to.have.length(1);
      expect(await hub.publish('after').catch((error: unknown) => error)).to.be.instanceOf(StoreError);
    });

    it('fails every session when the store cannot open the room', async () => {
      const store = new MemoryStore();
      const broken: RoomStore = {
        encodes: false,
        open: () => Promise.reject(new Error('unreachable')),
        append: (room, events) => store.append(room, events),
        read: (room, since) => store.read(room, since),
        release: () => undefined,
      };
      const hub = new MessageHub({ chatroomId: 'lobby', store: broken, onError: () => undefined });
      const ada = record(hub.add('ada', 's1'));
      expect(await ada.done.catch((error: unknown) => error)).to.be.instanceOf(StoreError);
      await hub.closed;
    });
  });

  describe('listeners with a store', () => {
    it('hold no more than their bound: the room waits for a full listener in the middle of a committed batch', async () => {
      const bound = 16;
      const hub = new MessageHub({ chatroomId: 'lobby', clock, store: new MemoryStore(), listenerBufferSize: bound, mailboxSize: 64 });
      const seen: number[] = [];
      let maxBuffered = 0;
      hub.attachListener(async (event) => {
        maxBuffered = Math.max(maxBuffered, ...hub.stats().listenerBuffers);
        await turns(1);
        seen.push(event.id);
      });
      const ada = record(hub.add('ada', 's1'));
      for (let i = 0; i < 500; i++) void hub.system(`m${i}`);
      await hub.close();
      expect(seen).to.deep.equal(Array.from({ length: 502 }, (_, i) => i + 1));
      expect(maxBuffered).to.be.at.most(bound);
      expect((await ada.done).map((e) => e.id)).to.deep.equal(seen);
    });
  });

  describe('#publish', () => {
    it('resolves with the committed id of each message, whispers included', async () => {
      const hub = new MessageHub({ chatroomId: 'lobby', clock });
      const grace = record(hub.add('grace', 's1'));
      expect(await hub.publish('hi', { from: 'ada' })).to.equal(2);
      expect(await hub.publish('psst', { from: 'ada', to: 'grace' })).to.equal(3);
      expect(await hub.publish('notice')).to.equal(4);
      await hub.close();
      expect((await grace.done).map((e) => e.id)).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it('rejects with CLOSED after close', async () => {
      const hub = new MessageHub({ chatroomId: 'lobby' });
      void hub.close();
      expect(await hub.publish('late').catch((error: unknown) => error)).to.be.instanceOf(ClosedError);
    });
  });

  describe('encoding', () => {
    const cyclic = (): unknown => {
      const value: Record<string, unknown> = {};
      value['self'] = value;
      return value;
    };
    const deep = (): unknown => JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;

    for (const [what, payload] of [
      ['a BigInt', (): unknown => 10n],
      ['a cycle', cyclic],
      ['nesting 100,000 deep', deep],
    ] as const) {
      it(`refuses ${what} with UNENCODABLE before it gets an id; the room goes on`, async () => {
        const hub = new MessageHub<unknown>({ chatroomId: 'lobby', clock, encode: true });
        const seen = record(hub.add('ada', 's1'));
        const outcome = await hub.publish(payload(), { from: 'ada' }).catch((error: unknown) => error);
        expect(outcome).to.be.instanceOf(UnencodableError).with.property('code', 'UNENCODABLE');
        expect(await hub.publish('fine', { from: 'ada' })).to.equal(2);
        await hub.close();
        expect((await seen.done).map((e) => e.id)).to.deep.equal([1, 2, 3]);
      });
    }

    it('shares each event\'s text through encoded() without a store too', async () => {
      const hub = new MessageHub({ chatroomId: 'lobby', encode: true });
      const texts: (string | undefined)[] = [];
      hub.add('ada', 's1').subscribe((event) => texts.push(hub.encoded(event)));
      await hub.publish('hello', { from: 'ada' });
      await hub.close();
      expect(texts.map((t) => (JSON.parse(t ?? 'null') as { id: number } | null)?.id)).to.deep.equal([1, 2, 3]);
    });

    it('reports a refused fire-and-forget message to onError', async () => {
      const errors: HubError[] = [];
      const hub = new MessageHub<unknown>({ chatroomId: 'lobby', encode: true, onError: (e) => errors.push(e) });
      await hub.message('ada', 10n);
      await hub.close();
      expect(errors.map((e) => e.code)).to.deep.equal(['UNENCODABLE']);
      expect(hub.lastEventId).to.equal(1); // only the close
    });

    it('encodes each event once and shares the text with the store and with encoded()', async () => {
      const store = new GatedStore(true);
      const hub = new MessageHub({ chatroomId: 'lobby', store, clock });
      const texts: (string | undefined)[] = [];
      hub.add('ada', 's1').subscribe((event) => texts.push(hub.encoded(event)));
      await hub.publish('hello', { from: 'ada' });
      await hub.close();
      const stored = store.lines.flatMap((l) => l ?? []);
      expect(texts).to.deep.equal(stored);
      expect(stored.map((t) => (JSON.parse(t) as { id: number }).id)).to.deep.equal([1, 2, 3]);
    });
  });

  describe('resume beyond the in-memory history', () => {
    it('replays from the store what the history no longer holds: no gap while the store keeps it', async () => {
      const store = new MemoryStore({ retain: 100 });
      const hub = new MessageHub({ chatroomId: 'lobby', clock, store, historySize: 3 });
      for (let i = 0; i < 20; i++) await hub.publish(`m${i}`);
      const resumed = record(hub.add('ada', 's1', { since: 2, epoch: hub.epoch }));
      await hub.close();
      const events = await resumed.done;
      expect(events.map((e) => (e.type === 'gap' ? 'gap' : e.id))).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 3));
    });

    it('sends a trimmed gap from where the store starts when it no longer keeps since + 1', async () => {
      const store = new MemoryStore({ retain: 5 });
      const hub = new MessageHub({ chatroomId: 'lobby', clock, store, historySize: 2 });
      for (let i = 0; i < 20; i++) await hub.publish(`m${i}`);
      const resumed = record(hub.add('ada', 's1', { since: 2 }));
      await hub.close();
      const events = await resumed.done;
      const first = events[0];
      expect(first).to.deep.include({ type: 'gap', reason: 'trimmed', since: 2 });
      const resumeAt = (first as { resumeAt: number }).resumeAt;
      expect(resumeAt).to.be.within(11, 19);
      expect(events.slice(1).map((e) => (e.type === 'gap' ? 0 : e.id))).to.deep.equal(Array.from({ length: 23 - resumeAt }, (_, i) => i + resumeAt));
    });
  });

  describe('epochs', () => {
    it('resumes with a reset gap and the kept history from the start when the epoch differs', async () => {
      const hub = new MessageHub({ chatroomId: 'lobby', clock });
      await hub.publish('one');
      await hub.publish('two');
      const resumed = record(hub.add('ada', 's1', { since: 40, epoch: 'another' }));
      await hub.close();
      const events = await resumed.done;
      expect(events[0]).to.deep.include({ type: 'gap', reason: 'reset', since: 40, resumeAt: 1, epoch: hub.epoch });
      expect(events.slice(1).map((e) => (e.type === 'gap' ? 0 : e.id))).to.deep.equal([1, 2, 3, 4]);
    });

    it('tells onJoined the epoch and the last id before the session joined', async () => {
      const hub = new MessageHub({ chatroomId: 'lobby', clock });
      await hub.publish('one');
      const positions: unknown[] = [];
      const ada = record(hub.add('ada', 's1', { onJoined: (p) => positions.push({ ...p, seen: ada.events.length }) }));
      await hub.close();
      expect(positions).to.deep.equal([{ epoch: hub.epoch, lastEventId: 1, seen: 0 }]);
    });
  });
});
