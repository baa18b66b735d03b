import { expect } from 'chai';
import { BufferOverflowError, MemoryStore, MessageHub, type SessionEvent } from '../src/index.js';
import { T0, clock, record } from './helpers.js';

const room = 'lobby';
const ids = (events: SessionEvent[]): (number | string)[] =>
  events.map((e) => (e.type === 'gap' ? `gap:${e.reason}:${e.since}->${e.resumeAt}` : e.id));

describe('MessageHub#add with since (resume)', () => {
  it('replays the history after since, then its own join, then live events, with no gap or duplicate', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    const first = record(hub.add('ada', 's1'));
    for (let i = 0; i < 5; i++) void hub.message('ada', `m${i}`);
    await hub.remove('ada', 's1');
    const seen = await first.done;
    const lastSeen = (seen.at(-2) as { id: number }).id; // the last event before its own leave
    void hub.message('bob', 'while away');
    const resumed = record(hub.add('ada', 's2', { since: lastSeen }));
    await hub.message('bob', 'live');
    await hub.close();
    expect(lastSeen).to.equal(6);
    expect(ids(await resumed.done)).to.deep.equal([7, 8, 9, 10, 11]);
    expect((await resumed.done).map((e) => e.type)).to.deep.equal(['leave', 'message', 'join', 'message', 'close']);
  });

  it('sends a trimmed gap notice first when the history no longer reaches back', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, historySize: 3 });
    for (let i = 0; i < 10; i++) void hub.system(`m${i}`);
    const resumed = record(hub.add('ada', 's1', { since: 2 }));
    await hub.close();
    const events = await resumed.done;
    expect(events[0]).to.deep.equal({ type: 'gap', chatroomId: room, since: 2, resumeAt: 8, reason: 'trimmed', epoch: hub.epoch, unixTime: T0 });
    expect(ids(events)).to.deep.equal(['gap:trimmed:2->8', 8, 9, 10, 11, 12]);
  });

  it('sends no gap when since is exactly before the oldest kept event', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, historySize: 3 });
    for (let i = 0; i < 10; i++) void hub.system(`m${i}`);
    const resumed = record(hub.add('ada', 's1', { since: 7 }));
    await hub.close();
    expect(ids(await resumed.done)).to.deep.equal([8, 9, 10, 11, 12]);
  });

  it('reports everything missed when history is 0', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, historySize: 0 });
    for (let i = 0; i < 4; i++) void hub.system(`m${i}`);
    const resumed = record(hub.add('ada', 's1', { since: 1 }));
    const current = record(hub.add('bob', 's1', { since: 5 }));
    await hub.close();
    expect(ids(await resumed.done)).to.deep.equal(['gap:trimmed:1->5', 5, 6, 7]);
    expect(ids(await current.done)).to.deep.equal([6, 7]);
  });

  it('sends a reset gap when since is ahead of the room (a room restarted without its history)', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    void hub.system('only one');
    const resumed = record(hub.add('ada', 's1', { since: 40 }));
    await hub.close();
    expect(ids(await resumed.done)).to.deep.equal(['gap:reset:40->2', 2, 3]);
  });

  it('replays only the whispers the resuming user may see', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    void hub.whisper('bob', 'ada', 'for ada');
    void hub.whisper('bob', 'eve', 'for eve');
    void hub.system('for all');
    const resumed = record(hub.add('ada', 's1', { since: 0 }));
    await hub.close();
    expect(ids(await resumed.done)).to.deep.equal([1, 3, 4, 5]);
  });
});

describe('session keep-buffer', () => {
  it('removes a session nobody reads past sessionBufferSize and ends its stream with BUFFER_OVERFLOW', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, sessionBufferSize: 5 });
    const ignored = hub.add('idle', 's1');
    const watcher = record(hub.add('watcher', 's1'));
    for (let i = 0; i < 10; i++) void hub.system(`m${i}`);
    await hub.close();
    const seen: number[] = [];
    const error = await new Promise<unknown>((resolve) => {
      ignored.subscribe({ next: (e) => seen.push((e as { id: number }).id), error: resolve, complete: () => resolve(null) });
    });
    expect(error).to.be.instanceOf(BufferOverflowError).with.property('code', 'BUFFER_OVERFLOW');
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const watched = await watcher.done;
    // The room saw the idle session leave right after the event that overflowed it, nothing was silent.
    expect(watched.find((e) => e.type === 'leave')).to.deep.include({ id: 7, userId: 'idle' });
    expect(ids(watched)).to.deep.equal(Array.from({ length: 13 }, (_, i) => i + 2));
  });

  it('with a store: ends the stream at once and the room sees the session leave after the batch that overflowed it', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, sessionBufferSize: 5, store: new MemoryStore() });
    const ignored = hub.add('idle', 's1');
    const watcher = record(hub.add('watcher', 's1'));
    for (let i = 0; i < 10; i++) void hub.system(`m${i}`);
    await hub.getHistory();
    await hub.close();
    const seen: number[] = [];
    const error = await new Promise<unknown>((resolve) => {
      ignored.subscribe({ next: (e) => seen.push((e as { id: number }).id), error: resolve, complete: () => resolve(null) });
    });
    expect(error).to.be.instanceOf(BufferOverflowError).with.property('code', 'BUFFER_OVERFLOW');
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const watched = await watcher.done;
    // The room saw the idle session leave right after the batch whose event overflowed it (the ten
    // messages went in one batch, ids 3-12): nothing was silent.
    expect(watched.find((e) => e.type === 'leave')).to.deep.include({ id: 13, userId: 'idle' });
    expect(ids(watched)).to.deep.equal(Array.from({ length: 13 }, (_, i) => i + 2));
  });

  it('with a store: ends an overflowed session with BUFFER_OVERFLOW and no leave after close when the room closes in the same batch', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, sessionBufferSize: 5, store: new MemoryStore() });
    const ignored = hub.add('idle', 's1');
    const watcher = record(hub.add('watcher', 's1'));
    for (let i = 0; i < 10; i++) void hub.system(`m${i}`);
    await hub.close();
    const error = await new Promise<unknown>((resolve) => {
      ignored.subscribe({ error: resolve, complete: () => resolve(null) });
    });
    expect(error).to.be.instanceOf(BufferOverflowError);
    const watched = await watcher.done;
    expect(watched.map((e) => e.type).slice(-2)).to.deep.equal(['message', 'close']);
    expect(ids(watched)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 2));
  });

  it('removes a session whose keep-buffer is exactly full once: one leave, and its stream completes', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, sessionBufferSize: 2 });
    const seen: string[] = [];
    hub.attachListener((e) => {
      seen.push(`${e.id}:${e.type}`);
    });
    const idle = hub.add('idle', 's1');
    void hub.system('fills the buffer');
    await hub.remove('idle', 's1');
    await hub.close();
    expect(seen).to.deep.equal(['1:join', '2:message', '3:leave', '4:close']);
    expect(ids(await record(idle).done)).to.deep.equal([1, 2, 3]);
  });

  it('ends with close, never a leave after it, when close reaches a session whose keep-buffer is exactly full', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, sessionBufferSize: 2 });
    const seen: string[] = [];
    hub.attachListener((e) => {
      seen.push(`${e.id}:${e.type}`);
    });
    const idle = hub.add('idle', 's1');
    void hub.system('fills the buffer');
    await hub.close();
    expect(seen).to.deep.equal(['1:join', '2:message', '3:close']);
    expect(ids(await record(idle).done)).to.deep.equal([1, 2, 3]);
    expect((await hub.getHistory()).map((e) => e.type)).to.deep.equal(['join', 'message', 'close']);
  });
});
