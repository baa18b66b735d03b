import { expect } from 'chai';
import { ListenerError, MessageHub, type HubError, type HubEvent } from '../src/index.js';
import { captureUnhandledErrors, clock, record, turns } from './helpers.js';

const room = 'lobby';

describe('MessageHub#attachListener', () => {
  it('sees every event from attach on, in order, exactly once, close included (function form)', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    const seen: HubEvent[] = [];
    hub.attachListener((event) => {
      seen.push(event);
    });
    hub.add('ada', 's1').subscribe();
    for (let i = 0; i < 100; i++) void hub.message('ada', `m${i}`);
    await hub.close();
    expect(seen.map((e) => e.id)).to.deep.equal(Array.from({ length: 102 }, (_, i) => i + 1));
    expect(seen.at(-1)?.type).to.equal('close');
  });

  it('stops after detach, flushes what it had, runs complete, and resolves', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    const seen: number[] = [];
    let completes = 0;
    const handle = hub.attachListener({
      next: async (event) => {
        await turns(1);
        seen.push(event.id);
      },
      complete: () => {
        completes++;
      },
    });
    for (let i = 0; i < 5; i++) void hub.system(`m${i}`);
    const detached = handle.detach();
    expect(handle.detach()).to.equal(detached);
    for (let i = 0; i < 5; i++) void hub.system(`late${i}`);
    await detached;
    expect(seen).to.deep.equal([1, 2, 3, 4, 5]);
    expect(completes).to.equal(1);
    await hub.close();
    expect(seen).to.deep.equal([1, 2, 3, 4, 5]);
    expect(completes).to.equal(1);
  });

  it('throws CLOSED when the hub is closing', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    const closing = hub.close();
    expect(() => hub.attachListener(() => undefined)).to.throw().with.property('code', 'CLOSED');
    await closing;
  });

  it('keeps a throwing or rejecting listener attached and reports its errors out of band', async () => {
    const reported: HubError[] = [];
    const hub = new MessageHub({ chatroomId: room, clock, onError: (e) => reported.push(e) });
    const good: number[] = [];
    const bad: number[] = [];
    hub.attachListener((event) => {
      bad.push(event.id);
      if (event.id % 2 === 0) throw new Error(`sync ${event.id}`);
      if (event.id % 3 === 0) return Promise.reject(new Error(`async ${event.id}`));
      return undefined;
    });
    hub.attachListener((event) => {
      good.push(event.id);
    });
    for (let i = 0; i < 9; i++) void hub.system(`m${i}`);
    await hub.close();
    expect(good).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(bad).to.deep.equal(good);
    expect(reported.every((e) => e instanceof ListenerError && e.code === 'LISTENER_FAILED')).to.equal(true);
    expect(reported.map((e) => (e.cause as Error).message)).to.deep.equal([
      'sync 2',
      'async 3',
      'sync 4',
      'sync 6',
      'sync 8',
      'async 9',
      'sync 10',
    ]);
  });

  it('goes on past a listener whose returned thenable throws in then()', async () => {
    const reported: HubError[] = [];
    const hub = new MessageHub({ chatroomId: room, clock, onError: (e) => reported.push(e) });
    const seen: number[] = [];
    hub.attachListener((event) => {
      seen.push(event.id);
      if (event.id === 2) {
        return {
          then(): never {
            throw new Error('bad thenable');
          },
        };
      }
      return undefined;
    });
    for (let i = 0; i < 4; i++) void hub.system(`m${i}`);
    await hub.close();
    expect(seen).to.deep.equal([1, 2, 3, 4, 5]);
    expect(reported.map((e) => (e.cause as Error).message)).to.deep.equal(['bad thenable']);
  });

  it('keeps running when the clock throws, reporting it', async () => {
    let calls = 0;
    const hub = new MessageHub({
      chatroomId: room,
      clock: () => {
        calls++;
        if (calls === 1) throw new Error('clock failed');
        return 5;
      },
    });
    const failures: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void failures.push(args);
    try {
      const ada = record(hub.add('ada', 's1'));
      await hub.getHistory();
      await hub.system('later');
      await hub.close();
      expect((await ada.done).map((e) => e.type)).to.deep.equal(['join', 'message', 'close']);
      expect(failures).to.have.length(1);
    } finally {
      console.error = original;
    }
  });

  it('reports listener errors on hub.errors when it is observed', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    const errors = record(hub.errors);
    hub.attachListener(() => {
      throw new Error('boom');
    });
    await hub.system('x');
    await hub.close();
    const got = await errors.done;
    expect(got).to.have.length(2);
    expect(got[0]).to.be.instanceOf(ListenerError);
  });

  it('slows publishers instead of dropping when a slow listener is full, with bounded buffers', async () => {
    const bound = 16;
    const hub = new MessageHub({ chatroomId: room, clock, listenerBufferSize: bound, mailboxSize: 8 });
    const seen: number[] = [];
    let maxBuffered = 0;
    let maxMailbox = 0;
    hub.attachListener(async (event) => {
      const stats = hub.stats();
      maxBuffered = Math.max(maxBuffered, ...stats.listenerBuffers);
      maxMailbox = Math.max(maxMailbox, stats.mailbox);
      await turns(1);
      seen.push(event.id);
    });
    const total = 500;
    // A publisher that respects backpressure: it awaits every accepted message.
    for (let i = 0; i < total; i++) await hub.system(`m${i}`);
    await hub.close();
    expect(seen).to.deep.equal(Array.from({ length: total + 1 }, (_, i) => i + 1));
    expect(maxBuffered).to.be.at.most(bound);
    expect(maxMailbox).to.be.at.most(8);
  });

  it('never blocks session subscribers on a slow listener beyond its bound', async () => {
    const hub = new MessageHub({ chatroomId: room, clock, listenerBufferSize: 4 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    hub.attachListener(() => gate);
    const ada = record(hub.add('ada', 's1'));
    for (let i = 0; i < 20; i++) void hub.system(`m${i}`);
    await turns(5);
    // The listener holds its first event plus 4 buffered; the room waits after that.
    expect(ada.events.length).to.equal(5);
    release();
    await hub.close();
    expect((await ada.done).length).to.equal(22);
  });
});

describe('subscriber isolation', () => {
  const unhandled = captureUnhandledErrors();

  it('a throwing subscriber does not stop the room or the other subscribers; rxjs reports its error', async () => {
    const hub = new MessageHub({ chatroomId: room, clock });
    hub.add('bad', 's1').subscribe(() => {
      throw new Error('subscriber failed');
    });
    const good = record(hub.add('good', 's1'));
    for (let i = 0; i < 50; i++) void hub.message('good', `m${i}`);
    await hub.close();
    // RxJS reports on a 0 ms timer; one set now fires after it.
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    expect((await good.done).map((e) => e.id)).to.deep.equal(Array.from({ length: 52 }, (_, i) => i + 2));
    expect(unhandled.length).to.be.greaterThan(0);
    expect((unhandled[0] as Error).message).to.equal('subscriber failed');
  });
});
