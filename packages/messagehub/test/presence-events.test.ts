import { expect } from 'chai';
import fc from 'fast-check';
import {
  BufferOverflowError,
  InvalidOptionError,
  MemoryStore,
  MessageHub,
  isVisibleTo,
  type HubEvent,
  type JoinPosition,
  type RoomStore,
  type SessionEvent,
} from '../src/index.js';
import { T0, clock, record, turns } from './helpers.js';
import { SequencingNodeStore, SharedSequencer } from './sequencing-store.js';
import { command, type Command } from './room-commands.js';

const room = 'stadium';
const ids = (events: readonly SessionEvent<unknown>[]): (number | string)[] =>
  events.map((e) => (e.type === 'gap' ? `gap:${e.reason}:${e.since}->${e.resumeAt}` : `${e.id}:${e.type}`));

/** A MemoryStore whose appends commit a turn later, so batches are in flight while commands arrive. */
function slowStore(): RoomStore {
  const store = new MemoryStore();
  return {
    encodes: false,
    open: (name, options) => store.open(name, options),
    append: (name, events) => new Promise<void>((resolve) => setImmediate(() => resolve(store.append(name, events)))),
    read: (name, since, limit) => store.read(name, since, limit),
    release: () => undefined,
  };
}

describe('MessageHub presenceEvents', () => {
  describe('option', () => {
    it("is 'all' by default: sessions entering and leaving are events with ids", async () => {
      const hub = new MessageHub<string>({ chatroomId: room, clock });
      expect(hub.presenceEvents).to.equal('all');
      const ada = record(hub.add('ada', 'a'));
      const bob = record(hub.add('bob', 'b'));
      await hub.message('ada', 'hi');
      await hub.remove('bob', 'b');
      await hub.close();
      expect(ids(await ada.done)).to.deep.equal(['1:join', '2:join', '3:message', '4:leave', '5:close']);
      expect(ids(await bob.done)).to.deep.equal(['2:join', '3:message', '4:leave']);
    });

    it('refuses a value other than all or none with INVALID_OPTION', () => {
      for (const value of ['off', true, 0, null, {}]) {
        const create = (): unknown => new MessageHub({ chatroomId: room, presenceEvents: value as 'none' });
        expect(create, String(value)).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
      }
    });

    it("refuses 'none' with a store that sequences rooms (it learns who is in a room from these events)", () => {
      const store = new SequencingNodeStore(new SharedSequencer());
      const create = (): unknown => new MessageHub({ chatroomId: room, store, presenceEvents: 'none' });
      expect(create).to.throw(InvalidOptionError).with.property('code', 'INVALID_OPTION');
      const hub = new MessageHub({ chatroomId: room, store, presenceEvents: 'all' });
      expect(hub.presenceEvents).to.equal('all');
      return hub.close();
    });
  });

  for (const [mode, makeStore] of [
    ['without a store', (): RoomStore | undefined => undefined],
    ['with a MemoryStore', (): RoomStore => new MemoryStore()],
    ['with a store that commits later', slowStore],
  ] as const) {
    describe(`'none', ${mode}`, () => {
      const open = (options: { historySize?: number; sessionBufferSize?: number } = {}): MessageHub<string> => {
        const store = makeStore();
        return new MessageHub<string>({ chatroomId: room, clock, presenceEvents: 'none', ...options, ...(store === undefined ? {} : { store }) });
      };

      it('announces nobody: sessions and listeners see only messages and close, with contiguous ids', async () => {
        const hub = open();
        const log: HubEvent<string>[] = [];
        hub.attachListener((event) => {
          log.push(event);
        });
        const positions: JoinPosition[] = [];
        const ada = record(hub.add('ada', 'laptop', { onJoined: (p) => positions.push(p) }));
        await hub.message('ada', 'one');
        const bob = record(hub.add('bob', 'phone', { onJoined: (p) => positions.push(p) }));
        const adaPhone = record(hub.add('ada', 'phone'));
        await hub.message('bob', 'two');
        await hub.remove('ada', 'phone');
        await hub.message('ada', 'three');
        await hub.remove('bob', 'phone');
        expect(await hub.publish('four', { from: 'ada' })).to.equal(4);
        await hub.close();

        expect(ids(log)).to.deep.equal(['1:message', '2:message', '3:message', '4:message', '5:close']);
        expect(ids(await ada.done)).to.deep.equal(['1:message', '2:message', '3:message', '4:message', '5:close']);
        // Bob entered after 1 and left after 3: his stream is 2..3 and completes without a leave.
        expect(ids(await bob.done)).to.deep.equal(['2:message', '3:message']);
        expect(ids(await adaPhone.done)).to.deep.equal(['2:message']);
        expect(positions.map((p) => p.lastEventId)).to.deep.equal([0, 1]);
        expect(positions.every((p) => p.epoch === hub.epoch)).to.equal(true);
        expect(ids(await hub.getHistory())).to.deep.equal(ids(log));
        expect(hub.lastEventId).to.equal(5);
      });

      it('answers presence and isOnline with every session, as sessions come and go', async () => {
        const hub = open();
        const streams = [];
        for (let i = 0; i < 50; i++) streams.push(record(hub.add(`u${i}`, 's1')));
        streams.push(record(hub.add('u7', 's2')));
        await hub.message('u0', 'hello');
        expect(await hub.presence()).to.have.length(50);
        expect((await hub.presence()).find((entry) => entry.userId === 'u7')).to.deep.equal({ userId: 'u7', sessions: 2 });
        expect(hub.stats()).to.include({ users: 50, sessions: 51, lastEventId: 1 });
        await hub.remove('u7', 's1');
        await hub.remove('u3', 's1');
        expect(await hub.isOnline('u3')).to.equal(false);
        expect(await hub.isOnline('u7')).to.equal(true);
        const presence = await hub.presence();
        expect(presence).to.have.length(49);
        expect(presence.find((entry) => entry.userId === 'u7')).to.deep.equal({ userId: 'u7', sessions: 1 });
        // Each of the sessions saw the one message and nothing else.
        expect(ids(streams[0]?.events ?? [])).to.deep.equal(['1:message']);
        await hub.close();
        expect(await hub.presence()).to.deep.equal([]);
      });

      it('resumes a session after its last message with no gap and no announcement', async () => {
        const hub = open();
        const first = record(hub.add('ada', 's1'));
        for (let i = 0; i < 5; i++) void hub.message('bob', `m${i}`);
        await hub.remove('ada', 's1');
        const seen = await first.done;
        const lastSeen = Number.parseInt(String(ids(seen).at(-1)), 10);
        void hub.message('bob', 'while away');
        const resumed = record(hub.add('ada', 's2', { since: lastSeen }));
        await hub.message('bob', 'live');
        await hub.close();
        expect(lastSeen).to.equal(5);
        expect(ids(await resumed.done)).to.deep.equal(['6:message', '7:message', '8:close']);
      });

      it('sends a trimmed gap on resume only when the history no longer reaches back', async () => {
        const hub = open({ historySize: 3 });
        for (let i = 0; i < 10; i++) void hub.system(`m${i}`);
        const resumed = record(hub.add('ada', 's1', { since: 2 }));
        const current = record(hub.add('bob', 's1', { since: 8 }));
        await hub.close();
        expect(ids(await resumed.done)).to.deep.equal(['gap:trimmed:2->8', '8:message', '9:message', '10:message', '11:close']);
        expect(ids(await current.done)).to.deep.equal(['9:message', '10:message', '11:close']);
      });

      it('removes a session nobody reads past its bound without announcing it', async () => {
        const hub = open({ sessionBufferSize: 2 });
        const unread = hub.add('idle', 's1');
        const reader = record(hub.add('ada', 's1'));
        for (let i = 0; i < 4; i++) await hub.message('ada', `m${i}`);
        await turns(2);
        expect(await hub.isOnline('idle')).to.equal(false);
        expect(await hub.presence()).to.deep.equal([{ userId: 'ada', sessions: 1 }]);
        await hub.close();
        expect(ids(await reader.done)).to.deep.equal(['1:message', '2:message', '3:message', '4:message', '5:close']);
        const kept: SessionEvent<string>[] = [];
        const error = await new Promise<unknown>((resolve) => unread.subscribe({ next: (e) => kept.push(e), error: resolve, complete: () => resolve(undefined) }));
        expect(error).to.be.instanceOf(BufferOverflowError);
        expect(ids(kept)).to.deep.equal(['1:message', '2:message', '3:message']);
      });

      it('still refuses a duplicate session and a removal of a session not in the room', async () => {
        const hub = open();
        record(hub.add('ada', 's1'));
        const twice = hub.add('ada', 's1');
        const error = await new Promise<unknown>((resolve) => twice.subscribe({ error: resolve }));
        expect(error).to.have.property('code', 'ALREADY_EXISTS');
        await hub.remove('ada', 's2').then(
          () => expect.fail('removed a session that is not in the room'),
          (e: unknown) => expect(e).to.have.property('code', 'NOT_FOUND'),
        );
        expect(hub.lastEventId).to.equal(0);
        await hub.close();
      });
    });
  }

  it("'none' with a store commits only messages and close: the store's ids are contiguous", async () => {
    const store = new MemoryStore();
    const hub = new MessageHub<string>({ chatroomId: room, clock, store, presenceEvents: 'none' });
    for (let i = 0; i < 20; i++) record(hub.add(`u${i}`, 's'));
    await hub.message('u1', 'a');
    for (let i = 0; i < 10; i++) await hub.remove(`u${i}`, 's');
    await hub.message('u11', 'b');
    await hub.close();
    const stored = await store.read<string>(room, 0);
    expect(stored.map((e) => `${e.id}:${e.type}`)).to.deep.equal(['1:message', '2:message', '3:close']);
    expect(stored[0]).to.deep.equal({ id: 1, chatroomId: room, type: 'message', userId: 'u1', message: 'a', unixTime: T0 });
  });
});


interface Opened {
  readonly user: string;
  readonly key: string;
  readonly events: SessionEvent<string>[];
  joinedAfter: number | undefined;
  removed: boolean;
  failed: boolean;
}

async function caller(hub: MessageHub<string>, name: number, commands: readonly Command[], opened: Opened[]): Promise<void> {
  const mine = new Map<string, Opened>();
  for (const [i, c] of commands.entries()) {
    switch (c.kind) {
      case 'add': {
        const key = `u${c.user}/c${name}s${c.session}`;
        const entry: Opened = { user: `u${c.user}`, key, events: [], joinedAfter: undefined, removed: false, failed: false };
        opened.push(entry);
        if (mine.get(key)?.removed === false && mine.get(key)?.failed === false) {
          // Still in the room: this add is refused; the recorded entry stays the one in the room.
          entry.failed = true;
        } else mine.set(key, entry);
        hub
          .add(entry.user, `c${name}s${c.session}`, { onJoined: (p) => (entry.joinedAfter = p.lastEventId) })
          .subscribe({ next: (e) => entry.events.push(e), error: () => (entry.failed = true) });
        break;
      }
      case 'remove': {
        const key = `u${c.user}/c${name}s${c.session}`;
        await hub.remove(`u${c.user}`, `c${name}s${c.session}`).then(
          () => {
            const entry = mine.get(key) as Opened;
            entry.removed = true;
          },
          () => undefined,
        );
        break;
      }
      case 'message':
        void hub.message(`u${c.user}`, `${name}:${i}`);
        break;
      case 'whisper':
        void hub.whisper(`u${c.user}`, `u${c.to}`, `${name}:${i}`);
        break;
      case 'yield':
        await new Promise<void>((resolve) => setImmediate(resolve));
        break;
    }
  }
}

for (const [mode, makeStore] of [
  ['without a store', (): RoomStore | undefined => undefined],
  ['with a store that commits later', slowStore],
] as const) {
  describe(`MessageHub presenceEvents 'none' properties, ${mode}`, () => {
    it('random interleavings keep ids contiguous and every stream exactly the room’s events from its entry to its exit', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(command, { maxLength: 25 }), { minLength: 1, maxLength: 5 }), async (callers) => {
          const store = makeStore();
          const hub = new MessageHub<string>({ chatroomId: 'p', mailboxSize: 4, presenceEvents: 'none', ...(store === undefined ? {} : { store }) });
          const log: HubEvent<string>[] = [];
          hub.attachListener((event) => {
            log.push(event);
          });
          const opened: Opened[] = [];
          await Promise.all(callers.map((commands, name) => caller(hub, name, commands, opened)));
          // Presence is every session that entered and was not removed (the room handles the
          // query after every add and remove sent before it).
          const presence = await hub.presence();
          const expected = new Map<string, number>();
          for (const entry of opened) {
            if (entry.failed || entry.removed) continue;
            expect(entry.joinedAfter, entry.key).to.be.a('number');
            expected.set(entry.user, (expected.get(entry.user) ?? 0) + 1);
          }
          expect(new Map(presence.map((p) => [p.userId, p.sessions]))).to.deep.equal(expected);
          await hub.close();

          expect(log.map((e) => e.id)).to.deep.equal(Array.from({ length: log.length }, (_, i) => i + 1));
          expect(log.every((e) => e.type === 'message' || e.type === 'close')).to.equal(true);
          for (const entry of opened) {
            if (entry.failed) continue;
            expect(entry.joinedAfter, entry.key).to.be.a('number');
            const after = log.slice(entry.joinedAfter).filter((e) => isVisibleTo(e, entry.user));
            if (entry.removed) expect(entry.events, entry.key).to.deep.equal(after.slice(0, entry.events.length));
            else expect(entry.events, entry.key).to.deep.equal(after);
          }
        }),
        { numRuns: 150 },
      );
    });
  });
}
