import { expect } from 'chai';
import fc from 'fast-check';
import { connect } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { HubServer, OriginNotAllowedError, isOriginAllowed, resolveAllowedOrigins } from '../src/index.js';
import { parseExposition, valueOf } from './exposition.js';
import { TestClient, cleanup, startServer } from './helpers.js';

// The allowedOrigins check: the pure function, then real upgrades against a real server on port 0.

/** What an upgrade with these headers got: `open`, or the HTTP status and body of a refusal. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ opened: true } | { opened: false; status: number; body: string; contentType: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve({ opened: true });
    });
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ opened: false, status: response.statusCode ?? 0, body, contentType: response.headers['content-type'] });
        ws.terminate();
      });
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

/** Refusals are reported to onError; these tests count them through the metrics instead. */
function quiet(): void {}

function httpOrigin(url: string): string {
  return url.replace('ws:', 'http:').replace(/\/$/, '');
}

describe('allowedOrigins', () => {
  afterEach(cleanup);

  describe('resolveAllowedOrigins', () => {
    it('normalises exact origins as browsers write them: lower-case host, no default port, no trailing slash', () => {
      const policy = resolveAllowedOrigins(['https://Chat.Example', 'http://localhost:3000/', 'https://a.example:443', 'http://[::1]:8080']);
      expect(policy).to.deep.equal({ kind: 'list', origins: new Set(['https://chat.example', 'http://localhost:3000', 'https://a.example', 'http://[::1]:8080']) });
      expect(resolveAllowedOrigins(undefined)).to.deep.equal({ kind: 'same-origin' });
      expect(resolveAllowedOrigins(['*'])).to.deep.equal({ kind: 'any' });
      expect(resolveAllowedOrigins([])).to.deep.equal({ kind: 'list', origins: new Set() });
    });

    it('throws a TypeError for anything but a list of exact http(s) origins, or [\'*\'] alone', () => {
      const bad: unknown[] = [
        'https://chat.example',
        '*',
        42,
        null,
        {},
        [42],
        [''],
        ['chat.example'],
        ['https://*.example'],
        ['https://chat.example/app'],
        ['https://chat.example?x=1'],
        ['https://user@chat.example'],
        ['ws://chat.example'],
        ['null'],
        ['*', 'https://chat.example'],
      ];
      for (const value of bad) expect(() => resolveAllowedOrigins(value), JSON.stringify(value)).to.throw(TypeError);
    });
  });

  describe('isOriginAllowed', () => {
    const sameOrigin = resolveAllowedOrigins(undefined);
    const listed = resolveAllowedOrigins(['https://chat.example']);

    it('lets a request without Origin through whatever the policy (programs outside a browser)', () => {
      for (const policy of [sameOrigin, listed, resolveAllowedOrigins([])]) expect(isOriginAllowed(policy, undefined, 'hub.example')).to.equal(true);
    });

    it('by default allows an origin whose host[:port] is the Host header, and nothing else', () => {
      expect(isOriginAllowed(sameOrigin, 'http://127.0.0.1:8080', '127.0.0.1:8080')).to.equal(true);
      expect(isOriginAllowed(sameOrigin, 'https://Chat.Example', 'chat.example')).to.equal(true);
      expect(isOriginAllowed(sameOrigin, 'http://127.0.0.1:8081', '127.0.0.1:8080')).to.equal(false);
      expect(isOriginAllowed(sameOrigin, 'https://evil.example', 'chat.example')).to.equal(false);
      expect(isOriginAllowed(sameOrigin, 'null', 'chat.example')).to.equal(false);
      expect(isOriginAllowed(sameOrigin, 'https://chat.example', undefined)).to.equal(false);
      expect(isOriginAllowed(sameOrigin, 'not an origin', 'chat.example')).to.equal(false);
    });

    it('with a list allows exactly the listed origins, whatever the Host', () => {
      expect(isOriginAllowed(listed, 'https://chat.example', 'hub.internal:8080')).to.equal(true);
      expect(isOriginAllowed(listed, 'https://chat.example:443', 'hub.internal:8080')).to.equal(true);
      expect(isOriginAllowed(listed, 'http://chat.example', 'hub.internal:8080')).to.equal(false);
      expect(isOriginAllowed(listed, 'https://hub.internal:8080', 'hub.internal:8080')).to.equal(false);
      expect(isOriginAllowed(resolveAllowedOrigins(['*']), 'null', 'x')).to.equal(true);
    });
  });

  describe('WebSocket upgrades', () => {
    it('by default accepts a page of the server itself and a client without Origin, and refuses another origin with 403', async () => {
      const reported: unknown[] = [];
      const running = await startServer({ onError: (error) => reported.push(error), metrics: true });
      const own = httpOrigin(running.wsUrl);

      expect(await upgrade(running.wsUrl, { origin: own })).to.deep.equal({ opened: true });
      expect(await upgrade(running.wsUrl, {})).to.deep.equal({ opened: true });
      const refused = await upgrade(running.wsUrl, { origin: 'https://evil.example' });
      expect(refused).to.include({ opened: false, status: 403, contentType: 'application/json; charset=utf-8' });
      const body = JSON.parse((refused as { body: string }).body) as { code: string; message: string };
      expect(body.code).to.equal('ORIGIN_NOT_ALLOWED');
      expect(body.message).to.include('https://evil.example');
      // Another port on the same host is another origin.
      const port = Number(new URL(running.wsUrl).port);
      expect(await upgrade(running.wsUrl, { origin: `http://127.0.0.1:${port + 1}` })).to.include({ opened: false, status: 403 });

      expect(running.server.metrics().originRefusals).to.equal(2);
      const families = parseExposition(await (await fetch(`${own}/metrics`)).text());
      expect(valueOf(families, 'msghub_origin_refusals_total', { carrier: 'ws' })).to.equal(2);
      // One report per 10 s: the first refusal is reported at once, the second waits for the next report.
      expect(reported).to.have.length(1);
      expect(reported[0]).to.be.instanceOf(OriginNotAllowedError);
      expect(reported[0]).to.include({ code: 'ORIGIN_NOT_ALLOWED', origin: 'https://evil.example', carrier: 'ws', refused: 1 });
    });

    it('a connection from an allowed page works as any other, past welcome', async () => {
      const running = await startServer({ allowedOrigins: ['https://chat.example'] });
      const client = await TestClient.ws(running.wsUrl, { origin: 'https://chat.example' });
      await client.hello({ user: 'ada' });
      client.send({ type: 'join', room: 'lobby', ref: 1 });
      expect(await client.next('ok')).to.include({ ref: 1, room: 'lobby' });
      expect(running.server.online()).to.deep.equal(['ada']);
    });

    it('with a list, allows exactly the listed origins: not the server\'s own, still a client without Origin', async () => {
      const running = await startServer({ allowedOrigins: ['https://chat.example', 'http://localhost:3000'], onError: quiet });
      expect(await upgrade(running.wsUrl, { origin: 'https://chat.example' })).to.deep.equal({ opened: true });
      expect(await upgrade(running.wsUrl, { origin: 'http://localhost:3000' })).to.deep.equal({ opened: true });
      expect(await upgrade(running.wsUrl, { origin: httpOrigin(running.wsUrl) })).to.include({ opened: false, status: 403 });
      expect(await upgrade(running.wsUrl, { origin: 'https://chat.example.evil' })).to.include({ opened: false, status: 403 });
      expect(await upgrade(running.wsUrl, {})).to.deep.equal({ opened: true });
      expect(running.server.metrics().originRefusals).to.equal(2);
    });

    it("with ['*'] allows every origin, even null", async () => {
      const running = await startServer({ allowedOrigins: ['*'] });
      expect(await upgrade(running.wsUrl, { origin: 'https://anyone.example' })).to.deep.equal({ opened: true });
      expect(await upgrade(running.wsUrl, { origin: 'null' })).to.deep.equal({ opened: true });
      expect(running.server.metrics().originRefusals).to.equal(0);
    });

    it('with an empty list refuses every browser and still serves programs', async () => {
      const running = await startServer({ allowedOrigins: [], onError: quiet });
      expect(await upgrade(running.wsUrl, { origin: httpOrigin(running.wsUrl) })).to.include({ opened: false, status: 403 });
      expect(await upgrade(running.wsUrl, {})).to.deep.equal({ opened: true });
    });

    it('applies to upgrades on an HTTP server the application owns (attach)', async () => {
      const server = new HubServer({ trustClientUser: true, onError: quiet });
      const http: Server = createServer((_request, response) => response.writeHead(404).end());
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      try {
        await server.attach(http, { path: '/hub' });
        const { port } = http.address() as AddressInfo;
        const url = `ws://127.0.0.1:${port}/hub`;
        expect(await upgrade(url, { origin: `http://127.0.0.1:${port}` })).to.deep.equal({ opened: true });
        expect(await upgrade(url, { origin: 'https://evil.example' })).to.include({ opened: false, status: 403 });
        expect(server.metrics().originRefusals).to.equal(1);
      } finally {
        await server.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
      }
    });

    it('leaves the TCP carrier alone: it has no Origin', async () => {
      const running = await startServer({ allowedOrigins: [] });
      const client = await running.user('ada', 'tcp');
      expect(client.isClosed).to.equal(false);
    });
  });

  describe('bad input', () => {
    it('never throws on any Origin or Host, and allows a foreign one only when listed or any', () => {
      const policies = [resolveAllowedOrigins(undefined), resolveAllowedOrigins(['https://chat.example']), resolveAllowedOrigins([]), resolveAllowedOrigins(['*'])];
      fc.assert(
        fc.property(fc.option(fc.string({ maxLength: 300 }), { nil: undefined }), fc.option(fc.string({ maxLength: 100 }), { nil: undefined }), (origin, host) => {
          for (const policy of policies) {
            const allowed = isOriginAllowed(policy, origin, host);
            expect(typeof allowed).to.equal('boolean');
            if (origin === undefined || policy.kind === 'any') expect(allowed).to.equal(true);
          }
          // An empty list allows no origin at all.
          if (origin !== undefined) expect(isOriginAllowed(policies[2]!, origin, host)).to.equal(false);
        }),
        { numRuns: 2000 },
      );
    });

    it('answers upgrades with odd Origin headers with 403 or a connection, and goes on serving', async () => {
      const running = await startServer({ onError: quiet });
      const odd = ['null', '', ' ', 'http://', 'https://' + 'a'.repeat(3000), 'http://127.0.0.1:0', 'file://', 'javascript:alert(1)', 'http://[::1', 'HTTP://127.0.0.1'];
      for (const origin of odd) {
        const result = await upgrade(running.wsUrl, { origin });
        if (result.opened) expect(origin, 'only an empty header may count as absent').to.match(/^\s*$/);
        else expect(result.status).to.equal(403);
      }
      // Raw bytes that no HTTP client would send: an Origin with control and non-ASCII characters.
      const { port } = new URL(running.wsUrl);
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
        socket.write(
          Buffer.concat([
            Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: `),
            Buffer.from([0xe2, 0x82, 0xac, 0x7f, 0xff]),
            Buffer.from('\r\n\r\n'),
          ]),
        );
      });
      expect(answer).to.match(/^HTTP\/1\.1 (403|400)/);
      const client = await running.user('ada');
      expect(client.isClosed).to.equal(false);
    });
  });

  describe('options', () => {
    it('throws a TypeError at construction for a bad allowedOrigins', () => {
      for (const value of ['https://chat.example', ['https://*.example'], ['chat.example'], [1], ['https://chat.example/path'], ['*', 'https://a.example']]) {
        expect(() => new HubServer({ allowedOrigins: value as string[] }), JSON.stringify(value)).to.throw(TypeError);
      }
    });
  });
});
