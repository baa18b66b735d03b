import { expect } from 'chai';
import fc from 'fast-check';
import type { HubEvent } from '../src/event.js';
import { HistoryRing } from '../src/history.js';

function event(id: number): HubEvent<string> {
  return { id, chatroomId: 'r', type: 'message', message: `m${id}`, unixTime: 0 };
}

const ids = (events: readonly HubEvent<string>[]): number[] => events.map((e) => e.id);

describe('HistoryRing', () => {
  it('keeps the latest `capacity` events, oldest first, across block boundaries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1100 }), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3100 }), (capacity, pushed, since) => {
        const ring = new HistoryRing<string>(capacity);
        for (let id = 1; id <= pushed; id++) ring.push(event(id));
        const first = Math.max(1, pushed - capacity + 1);
        const expected = Array.from({ length: pushed - first + 1 }, (_, i) => first + i);
        expect(ids(ring.toArray())).to.deep.equal(expected);
        expect(ring.size).to.equal(expected.length);
        expect(ring.oldestId).to.equal(expected[0]);
        expect(ids(ring.after(since))).to.deep.equal(expected.filter((id) => id > since));
      }),
      { numRuns: 200 },
    );
  });

  it('starts from the tail of its initial events', () => {
    const ring = new HistoryRing<string>(300, Array.from({ length: 1000 }, (_, i) => event(i + 1)));
    expect(ring.size).to.equal(300);
    expect(ring.oldestId).to.equal(701);
    ring.push(event(1001));
    expect(ids(ring.toArray())).to.deep.equal(Array.from({ length: 300 }, (_, i) => 702 + i));
  });

  it('keeps nothing with capacity 0', () => {
    const ring = new HistoryRing<string>(0, [event(1)]);
    ring.push(event(2));
    expect(ring.size).to.equal(0);
    expect(ring.oldestId).to.equal(undefined);
    expect(ring.toArray()).to.deep.equal([]);
  });
});
