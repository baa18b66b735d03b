import { expect } from 'chai';
import { RoomChannel, type RoomItem } from '../src/room.js';
import type { HubEvent } from '../src/protocol.js';

function message(id: number): HubEvent {
  return { id, chatroomId: 'lobby', type: 'message', userId: 'bob', message: `m${id}`, unixTime: id };
}

function open(since?: number) {
  const channel = new RoomChannel('lobby', since);
  const items: RoomItem[] = [];
  let complete = false;
  channel.items.subscribe({ next: (item) => items.push(item), complete: () => (complete = true) });
  return { channel, items, done: () => complete };
}

describe('RoomChannel', () => {
  describe('#receive', () => {
    it('delivers increasing ids once and drops repeats and older ids', () => {
      const { channel, items } = open();
      const delivered = [1, 2, 2, 3, 1, 5, 4, 6].map((id) => channel.receive(message(id)));
      expect(delivered).to.deep.equal([true, true, false, true, false, true, false, true]);
      expect(items.map((item) => (item as HubEvent).id)).to.deep.equal([1, 2, 3, 5, 6]);
      expect(channel.lastEventId).to.equal(6);
    });

    it('completes after the close event and delivers nothing more', () => {
      const { channel, items, done } = open();
      channel.receive({ id: 1, chatroomId: 'lobby', type: 'close', unixTime: 1 });
      expect(done()).to.equal(true);
      expect(channel.receive(message(2))).to.equal(false);
      expect(items).to.have.length(1);
    });
  });

  describe('#answered', () => {
    it('takes the position and the epoch from the first join answer only when it has none', () => {
      const fresh = new RoomChannel('lobby', undefined);
      fresh.answered({ lastEventId: 41, epoch: 'e1' });
      expect(fresh.position).to.deep.equal({ epoch: 'e1', lastEventId: 41 });
      const resumed = new RoomChannel('lobby', 7, 'e0');
      resumed.answered({ lastEventId: 41, epoch: 'e1' });
      expect(resumed.position).to.deep.equal({ epoch: 'e0', lastEventId: 7 });
    });

    it('counts a position given without an epoch in the epoch the server answers with', () => {
      const channel = new RoomChannel('lobby', 7);
      expect(channel.position).to.deep.equal({ lastEventId: 7 });
      channel.answered({ lastEventId: 41, epoch: 'e1' });
      expect(channel.position).to.deep.equal({ epoch: 'e1', lastEventId: 7 });
    });

    it('has no position before the first answer', () => {
      expect(new RoomChannel('lobby', undefined).position).to.equal(undefined);
    });
  });

  describe('#gap', () => {
    it('announces the missing range and moves past it', () => {
      const { channel, items } = open(10);
      channel.gap({ type: 'gap', room: 'lobby', since: 10, resumeAt: 15, reason: 'trimmed' });
      expect(items).to.deep.equal([{ type: 'gap', chatroomId: 'lobby', since: 10, resumeAt: 15, reason: 'trimmed' }]);
      expect(channel.receive(message(14))).to.equal(false);
      expect(channel.receive(message(15))).to.equal(true);
    });

    it('ignores a gap that covers nothing new', () => {
      const { channel, items } = open(20);
      channel.gap({ type: 'gap', room: 'lobby', since: 10, resumeAt: 15, reason: 'dropped' });
      expect(items).to.deep.equal([]);
      expect(channel.lastEventId).to.equal(20);
    });

    it('moves the position back on reset so the restarted room ids are delivered', () => {
      const { channel, items } = open(100);
      channel.gap({ type: 'gap', room: 'lobby', since: 100, resumeAt: 1, reason: 'reset' });
      expect(items[0]).to.include({ type: 'gap', reason: 'reset', since: 100, resumeAt: 1 });
      expect(channel.receive(message(1))).to.equal(true);
    });

    it('adopts the epoch of a reset gap and takes the new sequence from resumeAt, lower ids included', () => {
      const { channel, items } = open(100);
      channel.epoch = 'old';
      channel.answered({ lastEventId: 6, epoch: 'new' });
      // The answer alone does not move the position: the gap that follows does.
      expect(channel.position).to.deep.equal({ epoch: 'old', lastEventId: 100 });
      channel.gap({ type: 'gap', room: 'lobby', since: 100, resumeAt: 3, reason: 'reset', epoch: 'new' });
      expect(items).to.deep.equal([{ type: 'gap', chatroomId: 'lobby', since: 100, resumeAt: 3, reason: 'reset', epoch: 'new' }]);
      expect(channel.position).to.deep.equal({ epoch: 'new', lastEventId: 2 });
      expect([3, 4, 4, 5].map((id) => channel.receive(message(id)))).to.deep.equal([true, true, false, true]);
      expect(channel.position).to.deep.equal({ epoch: 'new', lastEventId: 5 });
    });

    it('names the current epoch on a dropped gap, which carries none', () => {
      const { channel, items } = open(10);
      channel.answered({ lastEventId: 10, epoch: 'e1' });
      channel.gap({ type: 'gap', room: 'lobby', since: 10, resumeAt: 15, reason: 'dropped' });
      expect(items[0]).to.deep.equal({ type: 'gap', chatroomId: 'lobby', since: 10, resumeAt: 15, reason: 'dropped', epoch: 'e1' });
    });

    it('has moved the position when a subscriber sees the notice', () => {
      const { channel } = open(10);
      const seen: unknown[] = [];
      channel.items.subscribe(() => seen.push(channel.position));
      channel.gap({ type: 'gap', room: 'lobby', since: 10, resumeAt: 1, reason: 'reset', epoch: 'e2' });
      expect(seen).to.deep.equal([{ epoch: 'e2', lastEventId: 0 }]);
    });
  });
});
