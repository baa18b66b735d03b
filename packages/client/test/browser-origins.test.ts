import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import type { HubServerOptions } from '@msghub/transport';
import { startServer, type TestServer } from './harness.js';
import { installChromium, launchChromium } from './chromium.js';

// allowedOrigins and permessage-deflate as Debian's chromium meets them: a page served by another
// origin than the hub (a second HTTP server on another port) is refused by default and connects
// once listed; the hub's own page connects by default; the browser negotiates compression.

const here = dirname(fileURLToPath(import.meta.url));

/** A page that connects to `hubUrl` (empty: the hub that served it, at /hub) as `user`, joins `lobby` and records states and messages. */
function page(hubUrl: string, user: string): string {
  return `<!doctype html>
<meta charset="utf-8">
<script type="module">
  import { createClient } from '/msghub.js';
  const client = createClient({ url: ${JSON.stringify(hubUrl)} || 'ws://' + location.host + '/hub', user: ${JSON.stringify(user)}, reconnect: { initialDelayMs: 100, maxDelayMs: 200, jitter: 0 } });
  window.states = [];
  window.messages = [];
  client.state$.subscribe((state) => window.states.push(state));
  client.join('lobby').subscribe((item) => { if (item.type === 'message') window.messages.push(item.message); });
</script>`;
}

async function pageState(tab: Page): Promise<{ states: string[]; messages: unknown[] }> {
  return tab.evaluate(() => {
    const w = globalThis as unknown as { states: string[]; messages: unknown[] };
    return { states: w.states, messages: w.messages };
  });
}

async function pageUntil(tab: Page, condition: (state: { states: string[]; messages: unknown[] }) => boolean, ms = 10_000): Promise<{ states: string[]; messages: unknown[] }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await pageState(tab);
    if (condition(state)) return state;
    if (Date.now() > deadline) throw new Error(`page state not reached: ${JSON.stringify(state)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('browser origins and compression in chromium', function () {
  let browser: Browser | undefined;
  let bundle = '';
  /** The other origin: a plain HTTP server on its own port serving the page and the bundle. */
  let site: Server | undefined;
  let sitePage = '';
  let hub: TestServer | undefined;

  before(async function () {
    this.timeout(15 * 60_000);
    installChromium();
    const built = (await import(join(here, '..', 'scripts', 'bundle.mjs'))) as { bundle: () => Promise<string> };
    bundle = readFileSync(await built.bundle(), 'utf8');
    site = createServer((request, response) => {
      if (request.url === '/msghub.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else if (request.url === '/') response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(sitePage);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => site!.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
  });

  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await new Promise<void>((resolve) => (site === undefined ? resolve() : site.close(() => resolve())));
  });

  const siteOrigin = (): string => `http://127.0.0.1:${(site!.address() as AddressInfo).port}`;

  async function hubWith(options: HubServerOptions): Promise<TestServer> {
    hub = await startServer({
      ...options,
      assets: { '/msghub.js': { body: bundle, contentType: 'text/javascript' }, '/': { body: page('', 'own'), contentType: 'text/html; charset=utf-8' } },
    });
    return hub;
  }

  it('refuses a page of another origin by default (403, counted), and serves the same page once its origin is listed', async function () {
    this.timeout(60_000);
    const refusing = await hubWith({});
    sitePage = page(refusing.wsUrl, 'elsewhere');
    const tab = await browser!.newPage();
    await tab.goto(`${siteOrigin()}/`);
    // The client keeps trying; every attempt is refused before it becomes a connection.
    await pageUntil(tab, (s) => s.states.filter((state) => state === 'reconnecting').length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await pageState(tab)).states).not.to.include('connected');
    expect(refusing.server.metrics().originRefusals).to.be.at.least(2);
    expect(refusing.server.online()).to.deep.equal([]);
    await tab.close();
    await refusing.close();

    const allowing = await hubWith({ allowedOrigins: [siteOrigin()] });
    sitePage = page(allowing.wsUrl, 'elsewhere');
    const listed = await browser!.newPage();
    await listed.goto(`${siteOrigin()}/`);
    await pageUntil(listed, (s) => s.states.includes('connected'));
    await allowing.server.rooms.get('lobby')?.message('node', 'hello page');
    await pageUntil(listed, (s) => s.messages.includes('hello page'));
    expect(allowing.server.metrics().originRefusals).to.equal(0);
    await listed.close();
  });

  it("serves the hub's own page by default, and the browser negotiates permessage-deflate when the server offers it", async function () {
    this.timeout(60_000);
    const running = await hubWith({ perMessageDeflate: { threshold: 0 } });
    const tab = await browser!.newPage();
    const cdp = await tab.context().newCDPSession(tab);
    await cdp.send('Network.enable');
    const extensions: string[] = [];
    cdp.on('Network.webSocketHandshakeResponseReceived', (event: { response: { headers: Record<string, string> } }) => {
      const headers = event.response.headers;
      extensions.push(headers['Sec-WebSocket-Extensions'] ?? headers['sec-websocket-extensions'] ?? '');
    });
    // The page at the hub's own origin connects to the hub's /hub path.
    await tab.goto(`${running.httpUrl}/`);
    await pageUntil(tab, (s) => s.states.includes('connected'));
    await running.server.rooms.get('lobby')?.message('node', 'compressed hello');
    await pageUntil(tab, (s) => s.messages.includes('compressed hello'));
    expect(extensions.length).to.be.at.least(1);
    expect(extensions[0]).to.match(/^permessage-deflate/);
    expect(running.server.metrics().originRefusals).to.equal(0);
    await tab.close();
  });
});
