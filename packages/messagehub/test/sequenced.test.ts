import { expect } from 'chai';
import { AlreadyExistsError, BufferOverflowError, MessageHub, StoreError, type HubEvent, type SessionEvent } from '../src/index.js';
import { clock, record, turns } from './helpers.js';
import { SequencingNodeStore, SharedSequencer } from './sequencing-store.js';
import { describeRoomStore } from './store-conformance.js';

describeRoomStore('a sequencing store (in memory)', async () => {
  const shared = new SharedSequencer();
  return {
    store: new SequencingNodeStore(shared),
    reopen: async () => ({ store: new SequencingNodeStore(shared), dispose: async () => {} }),
    dispose: async () => {},
  };
});

const ids = (events: readonly SessionEvent<unknown>[]): number[] => events.map((e) => (e.type === 'gap' ? -1 : e.id));
const types = (events: readonly SessionEvent<unknown>[]): string[] => events.map((e) => e.type);

describe('MessageHub with a store that sequences rooms across nodes', () => {
  let shared: SharedSequencer;
  let a: SequencingNodeStore;
  let b: SequencingNodeStore;
  beforeEach(() => {
    shared = new SharedSequencer();
    a = new SequencingNodeStore(shared, 'node-a');
    b = new SequencingNodeStore(shared, 'node-b');
  });

  it('delivers one id sequence to the members on every node, publish acks carrying the ids the store gave', async () => {
    const onA = new MessageHub<string>({ chatroomId: 'lobby', store: a, clock });
    const onB = new MessageHub<string>({ chatroomId: 'lobby', store: b, clock });
    const ada = record(onA.add('ada', 's1'));
    const bob = record(onB.add('bob', 's1'));
    await Promise.all([onA.getHistory(), onB.getHistory()]);
    const acks = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? onA : onB).publish(`m${i}`, { from: i % 2 === 0 ? 'ada' : 'bob' })),
    );
    expect([...acks].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 3));
    await Promise.all([onA.close(), onB.close()]);
    const [seenByAda, seenByBob] = await Promise.all([ada.done, bob.done]);
    const messages = (events: SessionEvent<string>[]): [number, string][] =>
      events.flatMap((e) => (e.type === 'message' ? [[e.id, e.message] as [number, string]] : []));
    expect(messages(seenByAda)).to.deep.equal(messages(seenByBob));
    expect(messages(seenByAda).map(([id]) => id)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 3));
    for (const [id, text] of messages(seenByAda)) expect(acks[Number(text.slice(1))]).to.equal(id);
    const all = await a.read('lobby', 0);
    expect(all.map((e) => e.id)).to.deep.equal(Array.from({ length: all.length }, (_, i) => i + 1));
  });

  it('makes a user\'s first session anywhere a join and the last one out a leave', async () => {
    const onA = new MessageHub({ chatroomId: 'lobby', store: a, clock });
    const onB = new MessageHub({ chatroomId: 'lobby', store: b, clock });
    const first = record(onA.add('ada', 'tab-1'));
    await onA.getHistory();
    const second = record(onB.add('ada', 'tab-2'));
    // A query waits for the node's own events: B has seen both joins, A sees the second soon after.
    expect(await onB.presence()).to.deep.equal([{ userId: 'ada', sessions: 2 }]);
    await turns(10);
    expect(await onA.presence()).to.deep.equal([{ userId: 'ada', sessions: 2 }]);
    await onA.remove('ada', 'tab-1');
    await onB.remove('ada', 'tab-2');
    expect(types(await first.done)).to.deep.equal(['join', 'add', 'remove']);
    expect(types(await second.done)).to.deep.equal(['add', 'remove', 'leave']);
    expect(await onB.isOnline('ada')).to.equal(false);
    await Promise.all([onA.close(), onB.close()]);
  });

  it('refuses a session that is in the room on another node with ALREADY_EXISTS', async () => {
    const onA = new MessageHub({ chatroomId: 'lobby', store: a, clock });
    const onB = new MessageHub({ chatroomId: 'lobby', store: b, clock });
    record(onA.add('ada', 's1'));
    await onA.getHistory();
    const error = await record(onB.add('ada', 's1')).done.then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(AlreadyExistsError);
    expect(await onB.presence()).to.deep.equal([{ userId: 'ada', sessions: 1 }]);
    await Promise.all([onA.close(), onB.close()]);
  });

  it('lets a query after a publish see it, as without a sequencing store', async () => {
    const hub = new MessageHub<string>({ chatroomId: 'lobby', store: a, clock });
    void hub.message('ada', 'one');
    void hub.message('ada', 'two');
    expect((await hub.getHistory()).map((e) => e.type === 'message' && e.message)).to.deep.equal(['one', 'two']);
    await hub.close();
  });

  it('removes a session nobody reads past sessionBufferSize: BUFFER_OVERFLOW, and every node sees it leave once', async () => {
    const onA = new MessageHub<string>({ chatroomId: 'lobby', store: a, clock, sessionBufferSize: 3 });
    const onB = new MessageHub<string>({ chatroomId: 'lobby', store: b, clock });
    const idle = onA.add('idle', 's1');
    const watcher = record(onB.add('watcher', 's1'));
    await onB.getHistory();
    for (let i = 0; i < 10; i++) await onB.publish(`m${i}`);
    await turns(20);
    const error = await new Promise<unknown>((resolve) => idle.subscribe({ error: resolve, complete: () => resolve(null) }));
    expect(error).to.be.instanceOf(BufferOverflowError);
    expect(await onA.presence()).to.deep.equal([{ userId: 'watcher', sessions: 1 }]);
    await Promise.all([onA.close(), onB.close()]);
    expect((await watcher.done).filter((e) => e.type === 'leave' && e.userId === 'idle')).to.have.length(1);
  });

  it('detaches a listener after the events appended before the detach, not one more', async () => {
    const hub = new MessageHub({ chatroomId: 'lobby', store: a, clock });
    const seen: number[] = [];
    const handle = hub.attachListener((event) => void seen.push(event.id));
    for (let i = 0; i < 5; i++) void hub.system(`m${i}`);
    const detached = handle.detach();
    for (let i = 0; i < 5; i++) void hub.system(`late${i}`);
    await detached;
    expect(seen).to.deep.equal([1, 2, 3, 4, 5]);
    await hub.close();
    expect(seen).to.deep.equal([1, 2, 3, 4, 5]);
  });

  it('joins and removes a session added and removed in one batch, leaving nobody behind', async () => {
    const hub = new MessageHub({ chatroomId: 'lobby', store: a, clock });
    const ada = record(hub.add('ada', 's1'));
    await hub.remove('ada', 's1');
    expect(types(await ada.done)).to.deep.equal(['join', 'leave']);
    expect(await hub.presence()).to.deep.equal([]);
    await hub.close();
    expect(shared.room('lobby').sessions.size).to.equal(0);
  });

  it('on close with members on another node appends their leaves instead of close; the room goes on there', async () => {
    const onA = new MessageHub<string>({ chatroomId: 'lobby', store: a, clock });
    const onB = new MessageHub<string>({ chatroomId: 'lobby', store: b, clock });
    const ada = record(onA.add('ada', 's1'));
    const logged: HubEvent<string>[] = [];
    onA.attachListener((event) => void logged.push(event));
    const bob = record(onB.add('bob', 's1'));
    await Promise.all([onA.getHistory(), onB.getHistory()]);
    await onA.close();
    expect(types(await ada.done)).to.deep.equal(['join', 'join', 'leave']);
    expect(types(logged)).to.deep.equal(['join', 'join', 'leave']);
    expect(await onB.publish('still here', { from: 'bob' })).to.equal(4);
    expect(await onB.presence()).to.deep.equal([{ userId: 'bob', sessions: 1 }]);
    await onB.close();
    expect(types(await bob.done)).to.deep.equal(['join', 'leave', 'message', 'close']);
  });

  it('fails a session another node removed (its node was taken for dead) with STORE_FAILED; the others see one leave', async () => {
    const onA = new MessageHub({ chatroomId: 'lobby', store: a, clock });
    const onB = new MessageHub({ chatroomId: 'lobby', store: b, clock });
    const ada = record(onA.add('ada', 's1'));
    const bob = record(onB.add('bob', 's1'));
    await Promise.all([onA.getHistory(), onB.getHistory()]);
    shared.reap('node-a', 'lobby', 0);
    const error = await ada.done.then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(StoreError);
    await onB.close();
    expect(types(await bob.done).filter((t) => t === 'leave')).to.have.length(1);
    await onA.remove('ada', 's1').then(
      () => expect.fail('removed twice'),
      (e: unknown) => expect((e as { code?: string }).code).to.equal('NOT_FOUND'),
    );
    await onA.close();
  });

  it('rejects the publishes of a batch the store failed to append with STORE_FAILED and stops the room', async () => {
    const reported: unknown[] = [];
    const hub = new MessageHub({ chatroomId: 'lobby', store: a, clock, onError: (e) => void reported.push(e) });
    const ada = record(hub.add('ada', 's1'));
    await hub.getHistory();
    shared.failAppends = new Error('redis is away');
    const error = await hub.publish('lost?', { from: 'ada' }).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(StoreError);
    expect(await ada.done.then(() => undefined, (e: unknown) => e)).to.be.instanceOf(StoreError);
    await hub.closed;
    expect(hub.failure).to.be.instanceOf(StoreError);
    expect(reported).to.deep.equal([hub.failure]);
  });

  it('replays a resuming session from the point its own join comes back', async () => {
    const onA = new MessageHub<string>({ chatroomId: 'lobby', store: a, clock });
    const onB = new MessageHub<string>({ chatroomId: 'lobby', store: b, clock });
    await onB.publish('one', { from: 'bob' });
    await onB.publish('two', { from: 'bob' });
    let position: unknown;
    const ada = record(onA.add('ada', 's1', { since: 1, onJoined: (p) => (position = p) }));
    void onB.publish('three', { from: 'bob' });
    await onA.getHistory();
    await turns(10);
    await Promise.all([onA.close(), onB.close()]);
    const seen = await ada.done;
    expect(ids(seen)).to.deep.equal(ids(seen).slice().sort((x, y) => x - y));
    const join = seen.find((e) => e.type === 'join') as HubEvent<string>;
    expect(position).to.deep.equal({ epoch: onA.epoch, lastEventId: join.id - 1 });
    expect(ids(seen)[0]).to.equal(2);
    expect(new Set(ids(seen)).size).to.equal(seen.length);
  });
});
