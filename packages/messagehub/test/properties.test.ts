import { expect } from 'chai';
import fc from 'fast-check';
import { MemoryStore, MessageHub, isVisibleTo, type HubEvent, type RoomStore, type SessionEvent } from '../src/index.js';
import { SequencingNodeStore, SharedSequencer } from './sequencing-store.js';
import { command, type Command } from './room-commands.js';


interface Opened {
  key: string;
  user: string;
  events: SessionEvent<string>[];
}

/** One async caller: runs its commands in order, sometimes yielding so callers interleave. */
async function caller(hub: MessageHub<string>, name: number, commands: Command[], opened: Opened[]): Promise<void> {
  for (const [i, c] of commands.entries()) {
    const payload = `${name}:${i}`;
    switch (c.kind) {
      case 'add': {
        const entry: Opened = { key: `u${c.user}/c${name}s${c.session}`, user: `u${c.user}`, events: [] };
        opened.push(entry);
        hub.add(entry.user, `c${name}s${c.session}`).subscribe({ next: (e) => entry.events.push(e), error: () => undefined });
        break;
      }
      case 'remove':
        await hub.remove(`u${c.user}`, `c${name}s${c.session}`).catch(() => undefined);
        break;
      case 'message':
        void hub.message(`u${c.user}`, payload);
        break;
      case 'whisper':
        void hub.whisper(`u${c.user}`, `u${c.to}`, payload);
        break;
      case 'yield':
        await new Promise<void>((resolve) => setImmediate(resolve));
        break;
    }
  }
}

const slow = (): RoomStore => {
  const store = new MemoryStore();
  return {
    encodes: false,
    open: (room, options) => store.open(room, options),
    append: (room, events) => new Promise<void>((resolve) => setImmediate(() => resolve(store.append(room, events)))),
    read: (room, since, limit) => store.read(room, since, limit),
    release: () => undefined,
  };
};

for (const [mode, store] of [
  ['without a store', (): RoomStore | undefined => undefined],
  ['with a store that commits later', slow],
  ['with a store that sequences rooms', (): RoomStore => new SequencingNodeStore(new SharedSequencer())],
] as const) describe(`MessageHub properties, ${mode}`, () => {
  it('random interleavings from many async callers keep every stream ordered, gap-free and complete', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(command, { maxLength: 25 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 40 }),
        async (callers, historySize) => {
          const chosen = store();
          const hub = new MessageHub<string>({ chatroomId: 'p', historySize, mailboxSize: 4, ...(chosen === undefined ? {} : { store: chosen }) });
          const log: HubEvent<string>[] = [];
          hub.attachListener((event) => {
            log.push(event);
          });
          const second: HubEvent<string>[] = [];
          hub.attachListener(async (event) => {
            await Promise.resolve();
            second.push(event);
          });
          const opened: Opened[] = [];
          await Promise.all(callers.map((commands, name) => caller(hub, name, commands, opened)));
          await hub.close();

          // Every listener saw the whole sequence 1..n exactly once, ending with close.
          expect(log.map((e) => e.id)).to.deep.equal(Array.from({ length: log.length }, (_, i) => i + 1));
          expect(second).to.deep.equal(log);
          expect(log.at(-1)?.type).to.equal('close');
          // History is the tail of the same sequence.
          expect(await hub.getHistory()).to.deep.equal(historySize === 0 ? [] : log.slice(-historySize));

          for (const entry of opened) {
            const events = entry.events as HubEvent<string>[];
            if (events.length === 0) continue; // a duplicate add: its stream errored
            const first = events[0] as HubEvent<string>;
            expect(first.type === 'join' || first.type === 'add', entry.key).to.equal(true);
            const last = events.at(-1) as HubEvent<string>;
            // Nothing is lost at the end either: a stream ends with the room's close or its own exit.
            const ownExit =
              (last.type === 'remove' || last.type === 'leave') &&
              `${last.userId}/${last.sessionId}` === entry.key;
            expect(last.type === 'close' || ownExit, entry.key).to.equal(true);
            // The session's stream is exactly the room's sequence from its join to its leave (or
            // close), minus the whispers not addressed to its user; with no whispers it is gap-free.
            const end = log.findIndex((e) => e.id === last.id);
            const expected = log
              .slice(first.id - 1, end + 1)
              .filter((e) => isVisibleTo(e, entry.user));
            expect(events, entry.key).to.deep.equal(expected);
            const broadcast = events.filter((e) => e.type !== 'message' || e.to === undefined);
            const ids = broadcast.map((e) => e.id);
            for (let i = 1; i < ids.length; i++) expect(ids[i]).to.be.greaterThan(ids[i - 1] as number);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
