import { expect } from 'chai';
import { AppendLedger, P_ADD, P_CLOSE, P_REMOVE, P_SEND, W_CLOSE, W_QUERY } from '../src/append-ledger.js';

describe('AppendLedger', () => {
  it('finds what an appended event stands for by the id the store gave it, once', () => {
    const ledger = new AppendLedger();
    const ack = { resolve() {}, reject() {} };
    ledger.stage(P_SEND, ack);
    ledger.stage(P_SEND); // a message nobody awaits: nothing to find
    ledger.stage(P_ADD, 'session', 'options');
    const batch = ledger.takeBatch();
    expect(ledger.settle(batch, [7, 8, 9])).to.deep.equal([]);
    expect(ledger.claim(7)).to.deep.equal({ kind: P_SEND, a: ack, b: undefined });
    expect(ledger.claim(7)).to.equal(undefined);
    expect(ledger.claim(8)).to.equal(undefined);
    expect(ledger.claim(9)).to.deep.include({ kind: P_ADD, a: 'session' });
  });

  it('returns what the store did not append, in order', () => {
    const ledger = new AppendLedger();
    ledger.stage(P_ADD, 'dup');
    ledger.stage(P_SEND);
    ledger.stage(P_REMOVE, 'gone');
    expect(ledger.settle(ledger.takeBatch(), [0, 4, 0]).map((p) => p.a)).to.deep.equal(['dup', 'gone']);
  });

  it('lets waiters go in order once the room delivered what was appended before them', () => {
    const ledger = new AppendLedger();
    ledger.opened(3);
    ledger.wait(W_QUERY, 0, 'first'); // nothing of this hub's before it: due at 3
    ledger.stage(P_SEND);
    ledger.stage(P_CLOSE);
    ledger.wait(W_CLOSE, 2, 'after the close');
    expect(ledger.due(3).map((w) => w.a)).to.deep.equal(['first']);
    // A close that appended leaves for this node's sessions answers the id of the last of them.
    ledger.settle(ledger.takeBatch(), [5, 9]);
    expect(ledger.due(8)).to.deep.equal([]);
    expect(ledger.due(9).map((w) => w.a)).to.deep.equal(['after the close']);
    expect(ledger.waiting).to.equal(false);
  });

  it('keeps a waiter of a batch in flight until the append answers', () => {
    const ledger = new AppendLedger();
    ledger.stage(P_SEND);
    ledger.wait(W_QUERY, 1, 'query');
    expect(ledger.due(1000)).to.deep.equal([]);
    ledger.settle(ledger.takeBatch(), [1]);
    expect(ledger.due(1).map((w) => w.a)).to.deep.equal(['query']);
  });

  it('hands back everything still expected when the room fails, a failed batch included', () => {
    const ledger = new AppendLedger();
    ledger.stage(P_SEND, 'appended');
    ledger.settle(ledger.takeBatch(), [1]);
    ledger.stage(P_SEND, 'in flight');
    ledger.wait(W_QUERY, 1, 'query');
    ledger.restore(ledger.takeBatch());
    const { items, waiting } = ledger.abandon();
    expect(items.map((p) => p.a)).to.deep.equal(['in flight', 'appended']);
    expect(waiting.map((w) => w.a)).to.deep.equal(['query']);
    expect(ledger.abandon()).to.deep.equal({ items: [], waiting: [] });
  });
});
