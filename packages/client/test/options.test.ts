import { expect } from 'chai';
import { InvalidOptionError } from '../src/errors.js';
import { resolveOptions, type ClientOptions } from '../src/options.js';
import type { Connector } from '../src/connector.js';

const connector: Connector = () => ({ send() {}, close() {} });

describe('options', () => {
  describe('resolveOptions', () => {
    it('fills in the documented defaults', () => {
      const resolved = resolveOptions({ connector });
      expect(resolved.reconnect).to.deep.equal({
        initialDelayMs: 500,
        maxDelayMs: 5000,
        factor: 2,
        jitter: 0.5,
        maxAttempts: Infinity,
      });
      expect(resolved.connectTimeoutMs).to.equal(10_000);
      expect(resolved.requestTimeoutMs).to.equal(10_000);
      expect(resolved.heartbeatTimeoutMs).to.equal(undefined);
      expect(resolved.sendBuffer).to.deep.equal({ maxFrames: 100, timeoutMs: 10_000 });
      expect(resolved.waitForOnline).to.equal(true);
      expect(resolveOptions({ connector, waitForOnline: false }).waitForOnline).to.equal(false);
    });

    it('merges partial reconnect options over the defaults and accepts reconnect: false', () => {
      expect(resolveOptions({ connector, reconnect: { maxAttempts: 10 } }).reconnect).to.include({
        maxAttempts: 10,
        initialDelayMs: 500,
      });
      expect(resolveOptions({ connector, reconnect: false }).reconnect).to.equal(false);
    });

    it('takes a user of 1 to 256 characters', () => {
      expect(resolveOptions({ connector, user: 'x'.repeat(256) }).user).to.equal('x'.repeat(256));
      expect(resolveOptions({ connector, user: 'x' }).user).to.equal('x');
    });

    const invalid: [string, Partial<ClientOptions> & Record<string, unknown>][] = [
      ['a missing connector', { connector: undefined as unknown as Connector }],
      ['a numeric token', { token: 5 as unknown as string }],
      ['an empty user', { user: '' }],
      ['a user over 256 characters', { user: 'x'.repeat(257) }],
      ['a zero connect timeout', { connectTimeoutMs: 0 }],
      ['a negative heartbeat timeout', { heartbeatTimeoutMs: -1 }],
      ['a NaN request timeout', { requestTimeoutMs: Number.NaN }],
      ['a fractional buffer size', { sendBuffer: { maxFrames: 1.5 } }],
      ['jitter above 1', { reconnect: { jitter: 2 } }],
      ['a factor below 1', { reconnect: { factor: 0.5 } }],
      ['reconnect: true', { reconnect: true as unknown as false }],
    ];
    for (const [what, options] of invalid) {
      it(`throws InvalidOptionError (a TypeError) on ${what}`, () => {
        expect(() => resolveOptions({ connector, ...options } as ClientOptions))
          .to.throw(InvalidOptionError)
          .that.is.instanceOf(TypeError)
          .and.has.property('code', 'INVALID_OPTION');
      });
    }
  });
});
