import { expect } from 'chai';
import { CommitPipeline, type CommitBatch } from '../src/commit-pipeline.js';
import { turns } from './helpers.js';

function batch(last: number): CommitBatch {
  return { fx: [], length: 0, last, count: 1, state: 0, error: undefined };
}

/** An append the test settles by hand. */
function pending(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('CommitPipeline', () => {
  describe('#add', () => {
    it('delivers each batch only after its own append resolved and every earlier batch was delivered', async () => {
      const delivered: number[] = [];
      const pipeline = new CommitPipeline(4, (b) => void delivered.push(b.last), () => undefined);
      const appends = [pending(), pending(), pending()];
      appends.forEach((append, i) => pipeline.add(batch(i + 1), append.promise, false));
      appends[2]?.resolve();
      appends[1]?.resolve();
      await turns(3);
      expect(delivered).to.deep.equal([]);
      appends[0]?.resolve();
      await turns(3);
      expect(delivered).to.deep.equal([1, 2, 3]);
      expect(pipeline.size).to.equal(0);
    });

    it('asks the caller to wait once `depth` batches are in flight, and lets it go on when one is delivered', async () => {
      const pipeline = new CommitPipeline(2, () => undefined, () => undefined);
      const first = pending();
      expect(pipeline.add(batch(1), first.promise, false)).to.equal(undefined);
      const full = pipeline.add(batch(2), pending().promise, false);
      expect(full).to.be.instanceOf(Promise);
      let roomy = false;
      void (full as Promise<void>).then(() => (roomy = true));
      await turns(3);
      expect(roomy).to.equal(false);
      first.resolve();
      await turns(3);
      expect(roomy).to.equal(true);
      expect(pipeline.size).to.equal(1);
    });

    it('waits for a delivery that returns a promise before it delivers the next batch', async () => {
      const delivered: number[] = [];
      let release!: () => void;
      const pipeline = new CommitPipeline(
        4,
        (b) => {
          delivered.push(b.last);
          if (b.last === 1) return new Promise<void>((resolve) => (release = resolve));
          return undefined;
        },
        () => undefined,
      );
      pipeline.add(batch(1), undefined, false);
      pipeline.add(batch(2), undefined, false);
      expect(delivered).to.deep.equal([1]);
      let idle = false;
      void pipeline.whenIdle().then(() => (idle = true));
      await turns(3);
      expect(idle).to.equal(false);
      release();
      await turns(3);
      expect(delivered).to.deep.equal([1, 2]);
      expect(idle).to.equal(true);
    });

    it('delivers the batches before a failed append and hands that one and every later one to fail, once', async () => {
      const delivered: number[] = [];
      const failed: { error: unknown; lasts: number[] }[] = [];
      const pipeline = new CommitPipeline(
        4,
        (b) => void delivered.push(b.last),
        (error, batches) => void failed.push({ error, lasts: batches.map((b) => b.last) }),
      );
      const appends = [pending(), pending(), pending()];
      appends.forEach((append, i) => pipeline.add(batch(i + 1), append.promise, false));
      const cause = new Error('disk full');
      appends[2]?.resolve();
      appends[1]?.reject(cause);
      await turns(3);
      expect(failed).to.deep.equal([]);
      appends[0]?.resolve();
      await turns(3);
      expect(delivered).to.deep.equal([1]);
      expect(failed).to.deep.equal([{ error: cause, lasts: [2, 3] }]);
      expect(pipeline.add(batch(4), undefined, false)).to.equal(undefined);
      await turns(3);
      expect(delivered).to.deep.equal([1]);
      expect(failed).to.have.length(1);
    });

    it('treats an append that threw as failed, after the batches before it', async () => {
      const delivered: number[] = [];
      const failed: number[][] = [];
      const pipeline = new CommitPipeline(4, (b) => void delivered.push(b.last), (_error, batches) => void failed.push(batches.map((b) => b.last)));
      const first = pending();
      pipeline.add(batch(1), first.promise, false);
      pipeline.add(batch(2), new Error('refused'), true);
      await turns(3);
      expect(failed).to.deep.equal([]);
      first.resolve();
      await turns(3);
      expect(delivered).to.deep.equal([1]);
      expect(failed).to.deep.equal([[2]]);
    });
  });
});
