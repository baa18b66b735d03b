import { expect } from 'chai';
import { Mailbox } from '../src/mailbox.js';
import { turns } from './helpers.js';

describe('Mailbox', () => {
  it('handles commands strictly in FIFO order, several per drain turn', async () => {
    const handled: number[] = [];
    let batches = 0;
    const box = new Mailbox(
      1024,
      (_op, a) => {
        handled.push(a as number);
      },
      () => batches++,
      () => undefined,
      (error) => {
        throw error;
      },
    );
    for (let i = 0; i < 100; i++) void box.post(0, i);
    await turns(2);
    expect(handled).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    expect(batches).to.equal(1);
  });

  it('parks commands past its capacity with a pending promise and admits them in order', async () => {
    const handled: number[] = [];
    const box = new Mailbox(4, (_op, a) => void handled.push(a as number), () => undefined, () => undefined, () => undefined);
    const accepted: number[] = [];
    const results = Array.from({ length: 10 }, (_, i) => box.post(0, i).then(() => accepted.push(i)));
    expect(box.size).to.equal(4);
    expect(box.parked).to.equal(6);
    await Promise.all(results);
    await turns(2);
    expect(handled).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(accepted).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(box.size).to.equal(0);
    expect(box.parked).to.equal(0);
  });

  it('waits for a handler that returns a promise before the next command', async () => {
    const log: string[] = [];
    let release!: () => void;
    const box = new Mailbox(
      16,
      (op) => {
        log.push(`start ${op}`);
        if (op === 1) {
          return new Promise<void>((resolve) => {
            release = () => {
              log.push('released');
              resolve();
            };
          });
        }
        return undefined;
      },
      () => undefined,
      () => undefined,
      () => undefined,
    );
    void box.post(1);
    void box.post(2);
    await turns(2);
    expect(log).to.deep.equal(['start 1']);
    release();
    await turns(2);
    expect(log).to.deep.equal(['start 1', 'released', 'start 2']);
  });

  it('keeps draining after a handler throws, passing the error to onFault', async () => {
    const handled: number[] = [];
    const faults: unknown[] = [];
    const box = new Mailbox(
      16,
      (op) => {
        if (op === 2) throw new Error('bad command');
        handled.push(op);
      },
      () => undefined,
      () => undefined,
      (error) => faults.push(error),
    );
    for (const op of [1, 2, 3]) void box.post(op);
    await turns(2);
    expect(handled).to.deep.equal([1, 3]);
    expect((faults[0] as Error).message).to.equal('bad command');
  });

  it('takes commands posted from inside a handler in the same turn, after the current ones', async () => {
    const handled: number[] = [];
    let batches = 0;
    const box: Mailbox = new Mailbox(
      16,
      (op) => {
        handled.push(op);
        if (op === 1) void box.post(9);
      },
      () => batches++,
      () => undefined,
      () => undefined,
    );
    void box.post(1);
    void box.post(2);
    await turns(2);
    expect(handled).to.deep.equal([1, 2, 9]);
    expect(batches).to.equal(2);
  });

  it('admits postNow commands at once, past the capacity and ahead of parked ones', async () => {
    const handled: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const mailbox = new Mailbox(1, (op) => (op === 0 ? gate : void handled.push(op)), () => undefined, () => undefined, () => undefined);
    void mailbox.post(0);
    await new Promise((resolve) => setImmediate(resolve));
    void mailbox.post(1);
    const parked = mailbox.post(2);
    mailbox.postNow(3);
    expect(mailbox.parked).to.equal(1);
    expect(mailbox.size).to.equal(2);
    release();
    await parked;
    await new Promise((resolve) => setImmediate(resolve));
    expect(handled).to.deep.equal([1, 3, 2]);
  });
});
