import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startServer, type TestServer } from './harness.js';
import { installChromium, launchChromium } from './chromium.js';

// waitForOnline in Debian's chromium: the browser bundle against the real server, with the
// network switched off and on through playwright's context.setOffline (navigator.onLine and the
// online/offline events follow it).

const here = dirname(fileURLToPath(import.meta.url));

const page = `<!doctype html>
<meta charset="utf-8">
<title>msghub online</title>
<script type="module">
  import { MsghubClient, webSocketConnector } from '/msghub.js';
  window.start = (options) => {
    const open = webSocketConnector('ws://' + location.host + '/hub');
    window.attempts = 0;
    window.states = [];
    window.items = [];
    const client = new MsghubClient({
      connector: (handlers) => {
        window.attempts++;
        return open(handlers);
      },
      user: 'browser',
      ...options,
    });
    client.state$.subscribe((state) => window.states.push(state));
    window.failure = undefined;
    client.join('lobby').subscribe({
      next: (item) => window.items.push(item),
      error: (error) => (window.failure = error.code),
    });
  };
</script>`;

interface PageState {
  attempts: number;
  states: string[];
  messages: unknown[];
  onLine: boolean;
  /** The code the room stream failed with, if it did. */
  failure: string | undefined;
}

function readPage(target: Page): Promise<PageState> {
  return target.evaluate(() => {
    const w = globalThis as unknown as {
      attempts: number;
      states: string[];
      items: { type: string; message?: unknown }[];
      failure: string | undefined;
      navigator: { onLine: boolean };
    };
    return {
      attempts: w.attempts,
      states: [...w.states],
      messages: w.items.filter((item) => item.type === 'message').map((item) => item.message),
      onLine: w.navigator.onLine,
      failure: w.failure,
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

describe('waitForOnline in chromium', function () {
  let browser: Browser | undefined;
  let test: TestServer | undefined;
  let context: BrowserContext | undefined;
  let pageErrors: string[] = [];

  before(async function () {
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

  afterEach(async () => {
    await context?.close();
    context = undefined;
    expect(pageErrors).to.deep.equal([]);
    pageErrors = [];
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await test?.close();
  });

  /** A fresh page (its own context, so that offline is its own) with a client started with `options`. */
  async function open(options: Record<string, unknown>): Promise<Page> {
    context = await browser!.newContext();
    const tab = await context.newPage();
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    await tab.goto(`${test!.httpUrl}/`);
    await tab.waitForFunction(() => typeof (globalThis as unknown as { start?: unknown }).start === 'function');
    await tab.evaluate((o) => (globalThis as unknown as { start: (o: unknown) => void }).start(o), options);
    await pageUntil(tab, (s) => s.states.at(-1) === 'connected');
    return tab;
  }

  it('spends no reconnect attempt while offline, then reconnects and resumes the room', async function () {
    this.timeout(30_000);
    // Without the wait this schedule would spend its two attempts within ~100 ms and give up.
    const tab = await open({ reconnect: { initialDelayMs: 50, maxDelayMs: 50, jitter: 0, maxAttempts: 2 } });
    const hub = test!.server.rooms.get('lobby')!;
    await hub.message('node', 'before');
    await pageUntil(tab, (s) => s.messages.includes('before'));

    await context!.setOffline(true);
    test!.dropAll();
    const lost = await pageUntil(tab, (s) => s.states.includes('reconnecting'));
    expect(lost.onLine).to.equal(false);
    await hub.message('node', 'while offline');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const waited = await readPage(tab);
    expect(waited.attempts).to.equal(1);
    expect(waited.states).to.deep.equal(['connecting', 'connected', 'reconnecting']);

    await context!.setOffline(false);
    const back = await pageUntil(tab, (s) => s.states.at(-1) === 'connected' && s.messages.includes('while offline'), 5000);
    expect(back.attempts).to.equal(2);
    expect(back.messages).to.deep.equal(['before', 'while offline']);
    expect(back.states).to.deep.equal(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(back.failure).to.equal(undefined);
  });

  it('connects as soon as the online event comes, whatever the backoff delay would have been', async function () {
    this.timeout(30_000);
    const tab = await open({ reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 } });
    await context!.setOffline(true);
    test!.dropAll();
    await pageUntil(tab, (s) => s.states.includes('reconnecting'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await context!.setOffline(false);
    const started = Date.now();
    const back = await pageUntil(tab, (s) => s.states.at(-1) === 'connected', 5000);
    // Far below the 60 s the backoff asked for: the online event started the attempt.
    expect(Date.now() - started).to.be.below(5000);
    expect(back.attempts).to.equal(2);
  });

  it('with waitForOnline: false, spends every attempt while offline and gives up', async function () {
    this.timeout(30_000);
    const tab = await open({ waitForOnline: false, reconnect: { initialDelayMs: 50, maxDelayMs: 50, jitter: 0, maxAttempts: 3 } });
    await context!.setOffline(true);
    test!.dropAll();
    // Chromium refuses WebSocket connections while offline: each attempt fails at once.
    const state = await pageUntil(tab, (s) => s.states.at(-1) === 'disconnected', 5000);
    expect(state.onLine).to.equal(false);
    expect(state.attempts).to.equal(4);
    expect(state.failure).to.equal('CONNECTION_FAILED');
    await context!.setOffline(false);
  });
});
