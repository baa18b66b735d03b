import { expect } from 'chai';
import { MemoryStore, MessageHub } from '../src/index.js';
import { describeRoomStore, message } from './store-conformance.js';

describeRoomStore('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, dispose: async () => undefined };
});

describe('MemoryStore', () => {
  describe('#seed', () => {
    it('starts a room where an earlier incarnation stopped', async () => {
      const store = new MemoryStore();
      store.seed('lobby', { lastEventId: 7, history: [message('lobby', 7)], epoch: 'e1' });
      const hub = new MessageHub({ chatroomId: 'lobby', store });
      expect(await hub.publish('next')).to.equal(8);
      expect(hub.epoch).to.equal('e1');
      expect((await hub.getHistory()).map((e) => e.id)).to.deep.equal([7, 8]);
    });

    it('refuses a room it already knows', () => {
      const store = new MemoryStore();
      store.open('lobby', { historySize: 1 });
      expect(() => store.seed('lobby', { lastEventId: 1 })).to.throw(TypeError);
    });
  });

  it('keeps at most retain events, and at least the historySize a room opened with', async () => {
    const store = new MemoryStore({ retain: 2 });
    store.open('lobby', { historySize: 3 });
    store.append('lobby', [1, 2, 3, 4, 5, 6, 7].map((id) => message('lobby', id)));
    expect((await store.read('lobby', 0)).map((e) => e.id)).to.deep.equal([5, 6, 7]);
  });
});
