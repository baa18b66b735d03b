import { expect } from 'chai';
import { filter, firstValueFrom, map, Subscriber, take, type Observer } from 'rxjs';
import type { SessionEvent } from '../src/event.js';
import { Session } from '../src/session.js';
import { captureUnhandledErrors } from './helpers.js';

function event(id: number): SessionEvent<string> {
  return { id, chatroomId: 'r', type: 'message', message: `m${id}`, unixTime: 0 };
}

const ids = (events: readonly SessionEvent<string>[]): number[] => events.map((e) => (e as { id: number }).id);

/** Lets RxJS's 0 ms report timers fire. */
const timers = (): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, 5));

describe('Session', () => {
  const unhandled = captureUnhandledErrors();

  describe('#deliver', () => {
    it('hands every event, in order, to a function, a plain observer and an operator chain alike', () => {
      const session = new Session<string>('ada', 's1', 10);
      const byFunction: SessionEvent<string>[] = [];
      const byObserver: SessionEvent<string>[] = [];
      const byOperators: number[] = [];
      session.stream.subscribe((e) => byFunction.push(e));
      session.stream.subscribe({ next: (e) => byObserver.push(e) });
      session.stream.pipe(map((e) => (e as { id: number }).id), filter((id) => id % 2 === 0)).subscribe((id) => byOperators.push(id));
      for (let id = 1; id <= 6; id++) expect(session.deliver(event(id))).to.equal(true);
      expect(ids(byFunction)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(ids(byObserver)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(byOperators).to.deep.equal([2, 4, 6]);
    });

    it('calls an observer’s next with the observer as `this`, and reads `next` at each event as RxJS does', () => {
      const session = new Session<string>('ada', 's1', 10);
      const seen: string[] = [];
      const observer: Partial<Observer<SessionEvent<string>>> & { name: string } = {
        name: 'first',
        next(this: { name: string }, e) {
          seen.push(`${this.name}:${(e as { id: number }).id}`);
        },
      };
      session.stream.subscribe(observer);
      session.deliver(event(1));
      observer.next = function (this: { name: string }, e) {
        seen.push(`swapped-${this.name}:${(e as { id: number }).id}`);
      };
      session.deliver(event(2));
      delete observer.next;
      session.deliver(event(3)); // an observer without next: nothing, and no error
      expect(seen).to.deep.equal(['first:1', 'swapped-first:2']);
      expect(unhandled).to.deep.equal([]);
    });

    it('replays what was kept to the first subscriber, then goes on live, in order', () => {
      const session = new Session<string>('ada', 's1', 10);
      for (let id = 1; id <= 3; id++) session.deliver(event(id));
      expect(session.buffered).to.equal(3);
      const seen: SessionEvent<string>[] = [];
      session.stream.subscribe((e) => seen.push(e));
      expect(session.buffered).to.equal(0);
      for (let id = 4; id <= 5; id++) session.deliver(event(id));
      expect(ids(seen)).to.deep.equal([1, 2, 3, 4, 5]);
    });

    it('leaves what a subscriber did not take (take(1), firstValueFrom) for the next one', async () => {
      const session = new Session<string>('ada', 's1', 10);
      for (let id = 1; id <= 3; id++) session.deliver(event(id));
      expect((await firstValueFrom(session.stream)) as { id: number }).to.include({ id: 1 });
      const second: SessionEvent<string>[] = [];
      session.stream.pipe(take(1)).subscribe((e) => second.push(e));
      const rest: SessionEvent<string>[] = [];
      session.stream.subscribe((e) => rest.push(e));
      session.deliver(event(4));
      expect(ids(second)).to.deep.equal([2]);
      expect(ids(rest)).to.deep.equal([3, 4]);
    });

    it('gives nothing more to a subscriber unsubscribed by another one during the same event', () => {
      const session = new Session<string>('ada', 's1', 10);
      const second: SessionEvent<string>[] = [];
      const third: SessionEvent<string>[] = [];
      const subscription = { current: undefined as { unsubscribe(): void } | undefined };
      session.stream.subscribe((e) => {
        if ((e as { id: number }).id === 2) subscription.current?.unsubscribe();
      });
      subscription.current = session.stream.subscribe({ next: (e) => second.push(e) });
      session.stream.subscribe((e) => third.push(e));
      for (let id = 1; id <= 3; id++) session.deliver(event(id));
      expect(ids(second)).to.deep.equal([1]);
      expect(ids(third)).to.deep.equal([1, 2, 3]);
    });

    it('reports a throwing subscriber out of band; it and the others keep getting events', async () => {
      const session = new Session<string>('ada', 's1', 10);
      const after: SessionEvent<string>[] = [];
      const others: SessionEvent<string>[] = [];
      session.stream.subscribe((e) => {
        if ((e as { id: number }).id === 1) throw new Error('function failed');
        after.push(e);
      });
      session.stream.subscribe({
        next: (e) => {
          if ((e as { id: number }).id === 2) throw new Error('observer failed');
        },
      });
      session.stream.subscribe((e) => others.push(e));
      for (let id = 1; id <= 3; id++) expect(() => session.deliver(event(id))).not.to.throw();
      expect(unhandled).to.deep.equal([]); // reported on a timer, not inside the delivery
      await timers();
      expect(unhandled.map((e) => (e as Error).message)).to.deep.equal(['function failed', 'observer failed']);
      expect(ids(after)).to.deep.equal([2, 3]);
      expect(ids(others)).to.deep.equal([1, 2, 3]);
    });

    it('keeps events for nobody once the last subscriber left, up to the limit', () => {
      const session = new Session<string>('ada', 's1', 2);
      const subscription = session.stream.subscribe(() => undefined);
      subscription.unsubscribe();
      expect(session.deliver(event(1))).to.equal(true);
      expect(session.deliver(event(2))).to.equal(true);
      expect(session.deliver(event(3))).to.equal(false);
    });
  });

  describe('#complete and #fail', () => {
    it('complete reaches every kind of subscriber once, closes their subscriptions, and stops delivery', () => {
      const session = new Session<string>('ada', 's1', 10);
      const calls: string[] = [];
      const fn = session.stream.subscribe({ next: () => calls.push('observer next'), complete: () => calls.push('observer complete') });
      const three = session.stream.subscribe(
        () => calls.push('fn next'),
        undefined,
        () => calls.push('fn complete'),
      );
      const chained = session.stream.pipe(map((e) => e)).subscribe({ complete: () => calls.push('chain complete') });
      session.deliver(event(1));
      session.complete();
      session.deliver(event(2));
      session.complete();
      expect(calls).to.deep.equal(['observer next', 'fn next', 'observer complete', 'fn complete', 'chain complete']);
      expect([fn.closed, three.closed, chained.closed]).to.deep.equal([true, true, true]);
      const late: string[] = [];
      session.stream.subscribe({ next: () => late.push('next'), complete: () => late.push('complete') });
      expect(late).to.deep.equal(['complete']);
    });

    it('fail hands the error to error handlers, and reports it where a subscriber has none', async () => {
      const session = new Session<string>('ada', 's1', 10);
      const failure = new Error('room failed');
      const seen: unknown[] = [];
      session.stream.subscribe({ error: (error) => seen.push(error) });
      session.stream.subscribe(() => undefined);
      session.fail(failure);
      expect(session.ended).to.equal(true);
      expect(seen).to.deep.equal([failure]);
      await timers();
      expect(unhandled).to.deep.equal([failure]);
    });
  });

  describe('stream', () => {
    it('takes an RxJS Subscriber as it is, through RxJS’s own path', () => {
      const session = new Session<string>('ada', 's1', 10);
      const seen: SessionEvent<string>[] = [];
      const subscriber = new Subscriber<SessionEvent<string>>({ next: (e) => seen.push(e), error: () => undefined, complete: () => undefined });
      const returned = session.stream.subscribe(subscriber);
      expect(returned).to.equal(subscriber);
      session.deliver(event(1));
      subscriber.unsubscribe();
      session.deliver(event(2));
      expect(ids(seen)).to.deep.equal([1]);
    });
  });
});
