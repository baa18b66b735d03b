import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { startServer, type TestServer } from './harness.js';
import { installChromium, launchChromium } from './chromium.js';

// The served browser bundle in Debian's chromium against the real server.

const here = dirname(fileURLToPath(import.meta.url));

const page = `<!doctype html>
<meta charset="utf-8">
<title>msghub client</title>
<script type="module">
  import { createClient } from '/msghub.js';
  const client = createClient({
    url: 'ws://' + location.host + '/hub',
    user: 'browser',
    reconnect: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0 },
  });
  window.states = [];
  window.items = [];
  client.state$.subscribe((state) => window.states.push(state));
  client.join('lobby').subscribe((item) => window.items.push(item));
</script>`;

interface PageState {
  states: string[];
  messages: unknown[];
  ids: number[];
}

function readPage(target: Page): Promise<PageState> {
  return target.evaluate(() => {
    const w = globalThis as unknown as { states: string[]; items: { type: string; id?: number; message?: unknown }[] };
    return {
      states: w.states,
      messages: w.items.filter((item) => item.type === 'message').map((item) => item.message),
      ids: w.items.flatMap((item) => (typeof item.id === 'number' ? [item.id] : [])),
    };
  });
}

async function pageUntil(target: Page, condition: (state: PageState) => boolean, ms = 10_000): Promise<PageState> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await readPage(target);
    if (condition(state)) return state;
    if (Date.now() > deadline) throw new Error(`page state not reached: ${JSON.stringify(state)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('browser bundle in chromium', function () {
  let browser: Browser | undefined;
  let test: TestServer | undefined;

  before(async function () {
    // First run on a fresh machine installs chromium from apt.
    this.timeout(15 * 60_000);
    installChromium();
    const { bundle } = (await import(join(here, '..', 'scripts', 'bundle.mjs'))) as { bundle: () => Promise<string> };
    const bundlePath = await bundle();
    test = await startServer({
      assets: {
        '/msghub.js': bundlePath,
        '/': { body: page, contentType: 'text/html; charset=utf-8' },
      },
    });
    browser = await launchChromium();
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await test?.close();
  });

  it('loads the served bundle, receives an event published from Node, and survives a server-side disconnect', async function () {
    this.timeout(30_000);
    const { server, httpUrl } = test!;
    const tab = await browser!.newPage();
    const pageErrors: string[] = [];
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    await tab.goto(`${httpUrl}/`);
    await pageUntil(tab, (s) => s.states.includes('connected'));
    const hub = server.rooms.get('lobby')!;
    await hub.message('node', 'first');
    await pageUntil(tab, (s) => s.messages.includes('first'));

    test!.dropAll();
    await pageUntil(tab, (s) => s.states.includes('reconnecting') && s.states.at(-1) === 'connected');
    await hub.message('node', 'second');
    const final = await pageUntil(tab, (s) => s.messages.includes('second'));

    expect(final.messages).to.deep.equal(['first', 'second']);
    expect(final.ids).to.deep.equal([...new Set(final.ids)].sort((a, b) => a - b));
    expect(final.states).to.deep.equal(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(pageErrors).to.deep.equal([]);
    await tab.close();
  });

  it('serves a bundle without Node-only modules', async () => {
    const response = await fetch(`${test!.httpUrl}/msghub.js`);
    expect(response.headers.get('content-type')).to.match(/javascript/);
    const text = await response.text();
    expect(text).to.match(/export\s*\{[^}]*createClient/);
    expect(text).not.to.match(/from\s*["'](ws|net|node:[a-z]+)["']/);
  });
});
