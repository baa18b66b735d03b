import { expect } from 'chai';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  AlreadyExistsError,
  ClosedError,
  InvalidArgumentError,
  InvalidOptionError,
  MessageHub,
  NotFoundError,
  type HubEvent,
} from '../src/index.js';
import { T0, clock, record, turns } from './helpers.js';

const room = 'lobby';
const hubOf = (extra: Partial<ConstructorParameters<typeof MessageHub<string>>[0]> = {}): MessageHub<string> =>
  new MessageHub<string>({ chatroomId: room, clock, ...extra });

describe('MessageHub', () => {
  describe('#constructor', () => {
    it('rejects options of the wrong type with an InvalidOptionError naming expected and given', () => {
      const cases: [unknown, RegExp][] = [
        [undefined, /options to be an object, got undefined/],
        [{}, /`chatroomId` to be a non-empty string, got undefined/],
        [{ chatroomId: '' }, /`chatroomId` to be a non-empty string, got "" \(string\)/],
        [{ chatroomId: 'r', mailboxSize: 0 }, /`mailboxSize` to be an integer >= 1, got 0 \(number\)/],
        [{ chatroomId: 'r', historySize: -1 }, /`historySize` to be an integer >= 0, got -1/],
        [{ chatroomId: 'r', historySize: 1.5 }, /`historySize`/],
        [{ chatroomId: 'r', listenerBufferSize: '8' }, /`listenerBufferSize` to be an integer >= 1, got "8" \(string\)/],
        [{ chatroomId: 'r', sessionBufferSize: 0 }, /`sessionBufferSize`/],
        [{ chatroomId: 'r', clock: 5 }, /`clock` to be a function, got 5 \(number\)/],
        [{ chatroomId: 'r', onError: 'x' }, /`onError` to be a function/],
        [{ chatroomId: 'r', seed: 3 }, /`seed` to be an object/],
        [{ chatroomId: 'r', seed: { lastEventId: -2 } }, /`seed.lastEventId` to be an integer >= 0/],
      ];
      for (const [options, message] of cases) {
        let thrown: unknown;
        try {
          new MessageHub(options as never);
        } catch (error) {
          thrown = error;
        }
        expect(thrown, JSON.stringify(options)).to.be.instanceOf(InvalidOptionError).and.instanceOf(TypeError);
        expect((thrown as InvalidOptionError).code).to.equal('INVALID_OPTION');
        expect((thrown as Error).message).to.match(message);
      }
    });

    it('applies the documented defaults', () => {
      const hub = new MessageHub({ chatroomId: room });
      expect(hub.chatroomId).to.equal(room);
      expect(hub.status).to.equal('running');
      expect(hub.lastEventId).to.equal(0);
      expect(hub.stats()).to.deep.include({ users: 0, sessions: 0, mailbox: 0, parked: 0, history: 0 });
    });
  });

  describe('#add', () => {
    it('emits join for a user\'s first session and add for later ones, to every session', async () => {
      const hub = hubOf();
      const first = record(hub.add('ada', 's1'));
      const second = record(hub.add('ada', 's2'));
      const other = record(hub.add('bob', 's1'));
      await hub.close();
      const join = { id: 1, chatroomId: room, type: 'join', userId: 'ada', sessionId: 's1', unixTime: T0 };
      const add = { id: 2, chatroomId: room, type: 'add', userId: 'ada', sessionId: 's2', unixTime: T0 };
      const bob = { id: 3, chatroomId: room, type: 'join', userId: 'bob', sessionId: 's1', unixTime: T0 };
      const close = { id: 4, chatroomId: room, type: 'close', unixTime: T0 };
      expect(await first.done).to.deep.equal([join, add, bob, close]);
      expect(await second.done).to.deep.equal([add, bob, close]);
      expect(await other.done).to.deep.equal([bob, close]);
    });

    it('misses nothing when the caller subscribes a few ticks later', async () => {
      const hub = hubOf();
      const stream = hub.add('ada', 's1');
      await hub.message('ada', 'one');
      await hub.message('ada', 'two');
      await turns(3);
      const got = await firstValueFrom(stream.pipe(take(3), toArray()));
      expect(got.map((e) => [e.id, e.type])).to.deep.equal([
        [1, 'join'],
        [2, 'message'],
        [3, 'message'],
      ]);
    });

    it('keeps what a subscriber that stopped early did not take for the next subscriber', async () => {
      const hub = hubOf();
      const stream = hub.add('ada', 's1');
      void hub.message('ada', 'one');
      void hub.message('ada', 'two');
      await hub.getHistory();
      const head = await firstValueFrom(stream);
      const rest = await firstValueFrom(stream.pipe(take(2), toArray()));
      expect(head.id).to.equal(1);
      expect(rest.map((e) => e.id)).to.deep.equal([2, 3]);
    });

    it('errors the stream with ALREADY_EXISTS for a duplicate (user, session) and leaves the first intact', async () => {
      const hub = hubOf();
      const first = record(hub.add('ada', 's1'));
      const error = await firstValueFrom(hub.add('ada', 's1')).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(AlreadyExistsError);
      expect((error as AlreadyExistsError).code).to.equal('ALREADY_EXISTS');
      await hub.message('ada', 'still here');
      await hub.close();
      expect((await first.done).map((e) => e.type)).to.deep.equal(['join', 'message', 'close']);
    });

    it('errors the stream with CLOSED after close()', async () => {
      const hub = hubOf();
      await hub.close();
      const error = await firstValueFrom(hub.add('ada', 's1')).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ClosedError);
      expect((error as ClosedError).code).to.equal('CLOSED');
    });

    it('throws INVALID_ARGUMENT synchronously for empty or non-string ids and a bad since', () => {
      const hub = hubOf();
      const calls: (() => unknown)[] = [
        () => hub.add('', 's'),
        () => hub.add('ada', ''),
        () => hub.add(42 as unknown as string, 's'),
        () => hub.add('ada', undefined as unknown as string),
        () => hub.add('ada', 's', { since: -1 }),
        () => hub.add('ada', 's', { since: 1.5 }),
        () => hub.remove('', 's'),
        () => hub.message('', 'x'),
        () => hub.whisper('ada', '', 'x'),
        () => hub.systemWhisper(null as unknown as string, 'x'),
        () => hub.isOnline(''),
        () => hub.attachListener({} as never),
      ];
      for (const call of calls) {
        expect(call).to.throw(InvalidArgumentError).with.property('code', 'INVALID_ARGUMENT');
      }
    });
  });

  describe('#remove', () => {
    it('emits remove while the user keeps other sessions, leave for the last, and completes the stream', async () => {
      const hub = hubOf();
      const s1 = record(hub.add('ada', 's1'));
      const s2 = record(hub.add('ada', 's2'));
      await hub.remove('ada', 's1');
      await hub.remove('ada', 's2');
      const got1 = await s1.done;
      const got2 = await s2.done;
      expect(got1.map((e) => [e.id, e.type, 'sessionId' in e ? e.sessionId : null])).to.deep.equal([
        [1, 'join', 's1'],
        [2, 'add', 's2'],
        [3, 'remove', 's1'],
      ]);
      expect(got2.map((e) => [e.id, e.type])).to.deep.equal([
        [2, 'add'],
        [3, 'remove'],
        [4, 'leave'],
      ]);
      expect(await hub.isOnline('ada')).to.equal(false);
    });

    it('rejects with NOT_FOUND for an unknown session and CLOSED after close()', async () => {
      const hub = hubOf();
      hub.add('ada', 's1').subscribe();
      const missing = await hub.remove('ada', 's2').catch((e: unknown) => e);
      expect(missing).to.be.instanceOf(NotFoundError).with.property('code', 'NOT_FOUND');
      const nobody = await hub.remove('bob', 's1').catch((e: unknown) => e);
      expect(nobody).to.be.instanceOf(NotFoundError);
      await hub.close();
      const closed = await hub.remove('ada', 's1').catch((e: unknown) => e);
      expect(closed).to.be.instanceOf(ClosedError).with.property('code', 'CLOSED');
    });
  });

  describe('#message, #whisper, #system, #systemWhisper', () => {
    it('broadcasts messages with the sender, and system messages without one', async () => {
      const hub = hubOf();
      const ada = record(hub.add('ada', 's1'));
      await hub.message('ada', 'hi');
      await hub.system('maintenance at noon');
      await hub.close();
      expect((await ada.done).slice(1, 3)).to.deep.equal([
        { id: 2, chatroomId: room, type: 'message', userId: 'ada', message: 'hi', unixTime: T0 },
        { id: 3, chatroomId: room, type: 'message', message: 'maintenance at noon', unixTime: T0 },
      ]);
    });

    it('delivers a whisper only to the recipient\'s and the sender\'s sessions', async () => {
      const hub = hubOf();
      const ada = record(hub.add('ada', 'a1'));
      const bob1 = record(hub.add('bob', 'b1'));
      const bob2 = record(hub.add('bob', 'b2'));
      const eve = record(hub.add('eve', 'e1'));
      await hub.whisper('ada', 'bob', 'psst');
      await hub.systemWhisper('eve', 'your turn');
      await hub.close();
      const whisper = { id: 5, chatroomId: room, type: 'message', userId: 'ada', to: 'bob', message: 'psst', unixTime: T0 };
      const notice = { id: 6, chatroomId: room, type: 'message', to: 'eve', message: 'your turn', unixTime: T0 };
      const messages = (events: HubEvent[]): HubEvent[] => events.filter((e) => e.type === 'message');
      expect(messages(await ada.done)).to.deep.equal([whisper]);
      expect(messages(await bob1.done)).to.deep.equal([whisper]);
      expect(messages(await bob2.done)).to.deep.equal([whisper]);
      expect(messages(await eve.done)).to.deep.equal([notice]);
      // The log of the room (history) holds both, in sequence.
      expect((await hub.getHistory()).slice(4, 6)).to.deep.equal([whisper, notice]);
    });

    it('is a no-op that resolves on a closed hub', async () => {
      const hub = hubOf();
      await hub.close();
      const last = hub.lastEventId;
      await hub.message('ada', 'late');
      await hub.whisper('ada', 'bob', 'late');
      await hub.system('late');
      await hub.systemWhisper('bob', 'late');
      expect(hub.lastEventId).to.equal(last);
      expect((await hub.getHistory()).map((e) => e.type)).to.deep.equal(['close']);
    });

    it('carries any payload type', async () => {
      const hub = new MessageHub<{ x: number }>({ chatroomId: room, clock });
      const got = record(hub.add('ada', 's1'));
      await hub.message('ada', { x: 1 });
      await hub.close();
      const message = (await got.done)[1];
      expect(message).to.deep.include({ type: 'message', message: { x: 1 } });
    });
  });

  describe('#history', () => {
    it('returns the last historySize events, oldest first, as an Observable and as an array', async () => {
      const hub = hubOf({ historySize: 3 });
      hub.add('ada', 's1').subscribe();
      for (let i = 0; i < 5; i++) void hub.message('ada', `m${i}`);
      const viaObservable = await firstValueFrom(hub.history().pipe(toArray()));
      const viaArray = await hub.getHistory();
      expect(viaObservable.map((e) => e.id)).to.deep.equal([4, 5, 6]);
      expect(viaArray).to.deep.equal(viaObservable);
    });

    it('keeps nothing with historySize 0 and still works', async () => {
      const hub = hubOf({ historySize: 0 });
      const ada = record(hub.add('ada', 's1'));
      await hub.message('ada', 'x');
      expect(await hub.getHistory()).to.deep.equal([]);
      await hub.close();
      expect((await ada.done).map((e) => e.id)).to.deep.equal([1, 2, 3]);
    });

    it('stops emitting when the subscriber unsubscribes', async () => {
      const hub = hubOf();
      for (let i = 0; i < 5; i++) void hub.system(`m${i}`);
      const two = await firstValueFrom(hub.history().pipe(take(2), toArray()));
      expect(two.map((e) => e.id)).to.deep.equal([1, 2]);
    });
  });

  describe('#presence, #isOnline', () => {
    it('lists users with their session counts in join order', async () => {
      const hub = hubOf();
      hub.add('ada', 's1').subscribe();
      hub.add('bob', 's1').subscribe();
      hub.add('ada', 's2').subscribe();
      expect(await hub.presence()).to.deep.equal([
        { userId: 'ada', sessions: 2 },
        { userId: 'bob', sessions: 1 },
      ]);
      expect(await hub.isOnline('bob')).to.equal(true);
      expect(await hub.isOnline('eve')).to.equal(false);
      await hub.remove('bob', 's1');
      expect(await hub.presence()).to.deep.equal([{ userId: 'ada', sessions: 2 }]);
    });
  });

  describe('seed', () => {
    it('continues the id sequence and history of an earlier incarnation', async () => {
      const first = hubOf();
      first.add('ada', 's1').subscribe();
      await first.message('ada', 'before restart');
      const history = await first.getHistory();
      const hub = hubOf({ seed: { lastEventId: first.lastEventId, history } });
      const ada = record(hub.add('ada', 's1', { since: 1 }));
      await hub.close();
      expect((await ada.done).map((e) => [e.type, e.type === 'gap' ? null : e.id])).to.deep.equal([
        ['message', 2],
        ['join', 3],
        ['close', 4],
      ]);
    });

    it('rejects a seed whose history does not fit its lastEventId or room', () => {
      const event = { id: 5, chatroomId: room, type: 'close', unixTime: T0 } as const;
      expect(() => hubOf({ seed: { lastEventId: 4, history: [event] } })).to.throw(InvalidOptionError, /seed.history/);
      expect(() => hubOf({ seed: { lastEventId: 9, history: [{ ...event, chatroomId: 'other' }] } })).to.throw(
        InvalidOptionError,
        /seed.history/,
      );
      expect(() => hubOf({ seed: { lastEventId: 9, history: [event, event] } })).to.throw(InvalidOptionError);
    });
  });

  describe('#close', () => {
    it('delivers close to every session and listener, completes streams, flushes listeners, then resolves', async () => {
      const hub = hubOf();
      const logged: number[] = [];
      let completed = false;
      hub.attachListener({
        next: async (event) => {
          await turns(1);
          logged.push(event.id);
        },
        complete: async () => {
          await turns(1);
          completed = true;
        },
      });
      const ada = record(hub.add('ada', 's1'));
      for (let i = 0; i < 10; i++) void hub.message('ada', `m${i}`);
      await hub.close();
      expect(hub.status).to.equal('closed');
      expect(completed).to.equal(true);
      expect(logged).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
      const events = await ada.done;
      expect(events.at(-1)).to.deep.equal({ id: 12, chatroomId: room, type: 'close', unixTime: T0 });
      await hub.closed;
    });

    it('is idempotent and processes everything sent before it', async () => {
      const hub = hubOf();
      void hub.system('a');
      const one = hub.close();
      const two = hub.close();
      expect(one).to.equal(two);
      expect(hub.status).to.equal('closing');
      await one;
      expect((await hub.getHistory()).map((e) => e.type)).to.deep.equal(['message', 'close']);
    });

    it('completes a stream that was never subscribed once its buffered events are read', async () => {
      const hub = hubOf();
      const stream = hub.add('ada', 's1');
      await hub.close();
      const events = await firstValueFrom(stream.pipe(toArray()));
      expect(events.map((e) => e.type)).to.deep.equal(['join', 'close']);
    });
  });
});
