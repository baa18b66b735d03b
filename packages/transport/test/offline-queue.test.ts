import { expect } from 'chai';
import { MemoryOfflineQueue } from '../src/index.js';
import { describeOfflineQueue } from './offline-queue-conformance.js';

describeOfflineQueue('MemoryOfflineQueue', async (options) => ({ queue: new MemoryOfflineQueue(options), dispose: async () => {} }));

describe('MemoryOfflineQueue', () => {
  it('rejects a bound that is not an integer >= 1 with a TypeError', () => {
    for (const options of [{ maxPerUser: 0 }, { maxUsers: 1.5 }, { ttlMs: -1 }, { clock: 5 as unknown as () => number }]) {
      expect(() => new MemoryOfflineQueue(options)).to.throw(TypeError);
    }
  });
});
