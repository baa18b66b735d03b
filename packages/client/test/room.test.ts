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

  describe('#joined', () => {
    it('takes the position from the first join answer only when it has none', () => {
      const fresh = new RoomChannel('lobby', undefined);
      fresh.joined(41);
      expect(fresh.lastEventId).to.equal(41);
      const resumed = new RoomChannel('lobby', 7);
      resumed.joined(41);
      expect(resumed.lastEventId).to.equal(7);
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
  });
});
