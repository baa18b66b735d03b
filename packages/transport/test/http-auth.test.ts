import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { SecretToken, bearerToken, checkToken, cookieValue, isLoopbackAddress, isLoopbackHost } from '../src/http-auth.js';

function request(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe('operator endpoint auth', () => {
  describe('isLoopbackHost', () => {
    it('takes localhost, 127.0.0.0/8 and ::1 as loopback, and every other host as beyond it', () => {
      for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).to.equal(true);
      for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'example.com', '128.0.0.1', '']) {
        expect(isLoopbackHost(host), host).to.equal(false);
      }
      expect(isLoopbackAddress(undefined)).to.equal(false);
    });
  });

  describe('bearerToken', () => {
    it('reads the token of an Authorization: Bearer header and nothing else', () => {
      expect(bearerToken(request({ authorization: 'Bearer abc' }))).to.equal('abc');
      expect(bearerToken(request({ authorization: 'bearer  abc ' }))).to.equal('abc');
      expect(bearerToken(request({ authorization: 'Basic abc' }))).to.equal(undefined);
      expect(bearerToken(request({ authorization: 'Bearer a b' }))).to.equal(undefined);
      expect(bearerToken(request({}))).to.equal(undefined);
    });
  });

  describe('cookieValue', () => {
    it('finds a cookie by name and decodes it', () => {
      const r = request({ cookie: 'a=1; msghub_admin=x%2By; b=2' });
      expect(cookieValue(r, 'msghub_admin')).to.equal('x+y');
      expect(cookieValue(r, 'c')).to.equal(undefined);
      expect(cookieValue(request({ cookie: 'msghub_admin=%E0' }), 'msghub_admin')).to.equal(undefined);
    });
  });

  describe('SecretToken', () => {
    it('matches its token only', () => {
      const secret = new SecretToken('0123456789abcdef');
      expect(secret.matches('0123456789abcdef')).to.equal(true);
      expect(secret.matches('0123456789abcde')).to.equal(false);
      expect(secret.matches('')).to.equal(false);
      expect(secret.matches(undefined)).to.equal(false);
    });
  });

  describe('checkToken', () => {
    it('accepts 16 characters or more and throws a TypeError otherwise', () => {
      expect(checkToken('t', 'x'.repeat(16))).to.equal('x'.repeat(16));
      expect(() => checkToken('t', 'x'.repeat(15))).to.throw(TypeError, /at least 16/);
      expect(() => checkToken('t', 42)).to.throw(TypeError);
    });
  });
});
