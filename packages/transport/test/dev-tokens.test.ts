import { expect } from 'chai';
import { request } from 'node:http';
import { HubServer } from '../src/index.js';
import { TestClient, cleanup, startServer } from './helpers.js';

/** POSTs `body` to `/dev/token` of the server at `wsUrl`. */
async function postToken(wsUrl: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(new URL('/dev/token', wsUrl.replace('ws:', 'http:')), { method: 'POST', body, headers });
  const isJson = response.headers.get('content-type')?.startsWith('application/json') ?? false;
  return { status: response.status, json: isJson ? ((await response.json()) as Record<string, unknown>) : {} };
}

describe('dev tokens (POST /dev/token)', () => {
  afterEach(cleanup);

  it('is not there unless devTokens is set: 404, and no token is issued', async () => {
    const { server, wsUrl } = await startServer({ trustClientUser: false });
    expect((await postToken(wsUrl, '{"user":"ada"}')).status).to.equal(404);
    expect(server.tokens.size).to.equal(0);
  });

  it('hands out a single-use connect token a client then connects with as that user', async () => {
    const { wsUrl } = await startServer({ trustClientUser: false, devTokens: true });
    const { status, json } = await postToken(wsUrl, JSON.stringify({ user: 'ada' }));
    expect(status).to.equal(200);
    expect(json['token']).to.be.a('string').with.length(43);
    const first = await TestClient.ws(wsUrl);
    expect(await first.hello({ token: json['token'] })).to.include({ userId: 'ada' });
    const second = await TestClient.ws(wsUrl);
    second.send({ type: 'hello', v: 1, token: json['token'] });
    expect(await second.next('error')).to.include({ code: 'AUTH_FAILED' });
  });

  it('requires the shared secret in x-msghub-dev-secret when one is set (403 otherwise)', async () => {
    const { wsUrl } = await startServer({ devTokens: { secret: 's3cret' } });
    expect((await postToken(wsUrl, '{"user":"ada"}')).status).to.equal(403);
    expect((await postToken(wsUrl, '{"user":"ada"}', { 'x-msghub-dev-secret': 's3cre' })).status).to.equal(403);
    expect((await postToken(wsUrl, '{"user":"ada"}', { 'x-msghub-dev-secret': 'wrong!' })).status).to.equal(403);
    const { status, json } = await postToken(wsUrl, '{"user":"ada"}', { 'x-msghub-dev-secret': 's3cret' });
    expect(status).to.equal(200);
    expect(json['token']).to.be.a('string');
  });

  it('answers a body without a valid user with 400 and another method with 405', async () => {
    const { server, wsUrl } = await startServer({ devTokens: true });
    for (const body of ['', 'not json', 'null', '{}', '{"user":""}', '{"user":7}', JSON.stringify({ user: 'x'.repeat(257) })]) {
      expect((await postToken(wsUrl, body)).status, body).to.equal(400);
    }
    const get = await fetch(new URL('/dev/token', wsUrl.replace('ws:', 'http:')));
    expect(get.status).to.equal(405);
    expect(get.headers.get('allow')).to.equal('POST');
    expect(server.tokens.size).to.equal(0);
  });

  it('refuses a body over 4 KiB with 413 without reading all of it', async () => {
    const { server, wsUrl } = await startServer({ devTokens: true });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(new URL('/dev/token', wsUrl.replace('ws:', 'http:')), { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(`{"user":"${'x'.repeat(8192)}`);
      // Never ended: the server answers as soon as the body passes the bound.
    });
    expect(status).to.equal(413);
    expect(server.tokens.size).to.equal(0);
  });

  it('still serves assets and WebSocket upgrades on the same port', async () => {
    const { wsUrl } = await startServer({ devTokens: true, assets: { '/a.txt': { body: 'a' } } });
    expect(await (await fetch(new URL('/a.txt', wsUrl.replace('ws:', 'http:')))).text()).to.equal('a');
    const client = await TestClient.ws(wsUrl);
    expect(await client.hello({ user: 'grace' })).to.include({ userId: 'grace' });
  });

  it('rejects a devTokens option that is neither a boolean nor { secret } with a TypeError', () => {
    expect(() => new HubServer({ devTokens: 'yes' as never })).to.throw(TypeError, /devTokens/);
    expect(() => new HubServer({ devTokens: { secret: '' } })).to.throw(TypeError, /devTokens/);
  });
});
