import { expect } from 'chai';
import { SendBuffer } from '../src/send-buffer.js';
import type { DiscardReason } from '../src/errors.js';
import { FakeTimers } from './fake-timers.js';

function makeBuffer(maxFrames: number, timeoutMs: number) {
  const timers = new FakeTimers();
  const discarded: [string, DiscardReason][] = [];
  const buffer = new SendBuffer<string>({ maxFrames, timeoutMs }, timers, (item, reason) => discarded.push([item, reason]));
  return { timers, discarded, buffer };
}

describe('SendBuffer', () => {
  describe('#push', () => {
    it('queues up to maxFrames and discards the next one as full', () => {
      const { buffer, discarded } = makeBuffer(2, 1000);
      expect([buffer.push('a'), buffer.push('b'), buffer.push('c')]).to.deep.equal(['queued', 'queued', 'discarded']);
      expect(discarded).to.deep.equal([['c', 'full']]);
      expect(buffer.size).to.equal(2);
    });

    it('discards everything when maxFrames is 0', () => {
      const { buffer, discarded } = makeBuffer(0, 1000);
      expect(buffer.push('a')).to.equal('discarded');
      expect(discarded).to.deep.equal([['a', 'full']]);
    });
  });

  describe('#drain', () => {
    it('returns the items oldest first and empties the buffer', () => {
      const { buffer } = makeBuffer(10, 1000);
      for (const item of ['a', 'b', 'c']) buffer.push(item);
      expect(buffer.drain()).to.deep.equal(['a', 'b', 'c']);
      expect(buffer.size).to.equal(0);
    });

    it('stops the expiry timer: drained items are never discarded later', () => {
      const { buffer, timers, discarded } = makeBuffer(10, 1000);
      buffer.push('a');
      buffer.drain();
      timers.advance(5000);
      expect(discarded).to.deep.equal([]);
      expect(timers.pending).to.equal(0);
    });
  });

  describe('expiry', () => {
    it('discards each item after timeoutMs, in order, and keeps the younger ones', () => {
      const { buffer, timers, discarded } = makeBuffer(10, 1000);
      buffer.push('a');
      timers.advance(400);
      buffer.push('b');
      timers.advance(600);
      expect(discarded).to.deep.equal([['a', 'timeout']]);
      timers.advance(399);
      expect(discarded).to.have.length(1);
      timers.advance(1);
      expect(discarded).to.deep.equal([
        ['a', 'timeout'],
        ['b', 'timeout'],
      ]);
      expect(buffer.size).to.equal(0);
    });

    it('makes room again: after an expiry a full buffer accepts new items', () => {
      const { buffer, timers } = makeBuffer(1, 100);
      buffer.push('a');
      expect(buffer.push('b')).to.equal('discarded');
      timers.advance(100);
      expect(buffer.push('c')).to.equal('queued');
      expect(buffer.drain()).to.deep.equal(['c']);
    });
  });

  describe('#discardAll', () => {
    it('discards every waiting item with the given reason, oldest first', () => {
      const { buffer, discarded } = makeBuffer(10, 1000);
      buffer.push('a');
      buffer.push('b');
      buffer.discardAll('closed');
      expect(discarded).to.deep.equal([
        ['a', 'closed'],
        ['b', 'closed'],
      ]);
      expect(buffer.size).to.equal(0);
    });
  });
});
