import { expect } from 'chai';
import { DEFAULT_BACKOFF, backoffDelay } from '../src/backoff.js';

describe('backoff', () => {
  describe('backoffDelay', () => {
    it('doubles from 500 ms to the 5 s cap by default when jitter draws 0', () => {
      const delays = [0, 1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, DEFAULT_BACKOFF, 0));
      expect(delays).to.deep.equal([500, 1000, 2000, 4000, 5000, 5000, 5000]);
    });

    it('keeps every jittered delay within [base * (1 - jitter), base]', () => {
      for (let attempt = 0; attempt < 8; attempt++) {
        const base = Math.min(5000, 500 * 2 ** attempt);
        for (const random of [0, 0.25, 0.5, 0.999]) {
          const delay = backoffDelay(attempt, DEFAULT_BACKOFF, random);
          expect(delay).to.be.within(base * 0.5, base);
        }
      }
    });

    it('spreads clients that draw different numbers', () => {
      expect(backoffDelay(2, DEFAULT_BACKOFF, 0.9)).to.be.below(backoffDelay(2, DEFAULT_BACKOFF, 0.1));
    });

    it('follows custom options and never overflows on huge attempt numbers', () => {
      const options = { initialDelayMs: 10, maxDelayMs: 80, factor: 3, jitter: 0, maxAttempts: 5 };
      expect([0, 1, 2, 3].map((a) => backoffDelay(a, options, 0.7))).to.deep.equal([10, 30, 80, 80]);
      expect(backoffDelay(1e9, options, 0)).to.equal(80);
    });
  });
});
