import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStore } from '@msghub/messagehub';
import type { WebSocketOption } from '@msghub/transport';
import { type Browser, type Page } from 'playwright-core';
import { createClient, type MsghubClient, type RoomItem } from '../src/node.js';
import { startServer, until, waitFor, type ServerPorts, type TestServer } from './harness.js';
import { installChromium, launchChromium } from './chromium.js';

// examples/chat in chromium where WebSocket does not get through: the page has none, or the
// server refuses the page's upgrade. The page falls back to the HTTP carrier and talks, both
// ways, with a WebSocket user in the same room, across a server restart.

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const chat = join(repoRoot, 'examples', 'chat');

declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ dataset: Record<string, string | undefined>; querySelector(s: string): { textContent: string | null } | null }> &
    Iterable<{ dataset: Record<string, string | undefined>; querySelector(s: string): { textContent: string | null } | null }>;
};

/** The texts of the messages the page shows, top to bottom. */
function shown(page: Page): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll('#log li.msg')].map((item) => item.querySelector('.text')?.textContent ?? ''));
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

async function delivered(page: Page, text: string): Promise<void> {
  await page.locator('#log li.msg[data-status="delivered"]', { hasText: text }).waitFor();
}

async function showsMessage(page: Page, text: string): Promise<void> {
  await page.locator('#log li.msg .text', { hasText: text }).first().waitFor();
}

/** What a Node client saw in `room`, in order: the messages, every event id, the gaps. */
function record(client: MsghubClient, room: string): { texts: () => unknown[]; ids: () => number[]; gaps: () => RoomItem[] } {
  const items: RoomItem[] = [];
  client.join(room).subscribe((item) => items.push(item));
  return {
    texts: () => items.flatMap((item) => (item.type === 'message' ? [item.message] : [])),
    ids: () => items.flatMap((item) => (item.type === 'gap' ? [] : [item.id])),
    gaps: () => items.filter((item) => item.type === 'gap'),
  };
}

describe('examples/chat over the HTTP carrier in chromium', function () {
  let browser: Browser | undefined;
  let bundlePath = '';
  let test: TestServer | undefined;
  const clients: MsghubClient[] = [];

  before(async function () {
    this.timeout(15 * 60_000);
    installChromium();
    const { bundle } = (await import(join(here, '..', 'scripts', 'bundle.mjs'))) as { bundle: () => Promise<string> };
    bundlePath = await bundle();
    browser = await launchChromium();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await test?.close();
    test = undefined;
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
  });

  /** The chat page and its bundle served by a server whose upgrades `websocket` decides. */
  async function serve(store: MemoryStore, websocket: WebSocketOption, ports?: ServerPorts): Promise<TestServer> {
    test = await startServer(
      { store, assets: { '/msghub.js': bundlePath, '/': join(chat, 'index.html'), '/favicon.svg': join(chat, 'favicon.svg') } },
      ports,
      { path: '/', websocket },
    );
    return test;
  }

  /**
   * ada in the page (over HTTP), bob in Node over WebSocket, in room `fallback`: both ways, then
   * a restart with a message sent while the server is down, then both ways again.
   */
  async function chatAcrossRestart(page: Page, websocket: WebSocketOption, store: MemoryStore): Promise<void> {
    const { httpUrl, wsUrl, ports } = test!;
    const bob = createClient({ url: wsUrl, user: 'bob', carrier: 'websocket', reconnect: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0 } });
    clients.push(bob);
    const bobSees = record(bob, 'fallback');
    await waitFor(bob.state$, (s) => s === 'connected');
    await page.goto(`${httpUrl}/?user=ada&room=fallback`);
    await page.waitForSelector('#state[data-state="connected"]');
    expect(test!.server.connections().map((c) => `${c.userId} ${c.carrier}`).sort()).to.deep.equal(['ada http', 'bob ws']);

    await say(page, 'hello from the page');
    await delivered(page, 'hello from the page');
    await bob.publishAsync('fallback', 'hello from websocket');
    await showsMessage(page, 'hello from websocket');
    await until(() => bobSees.texts().length === 2);

    await test!.close();
    await page.waitForSelector('#state[data-state="reconnecting"]');
    await say(page, 'said while the server was down');
    await page.locator('#outbox li[data-status="waiting"]', { hasText: 'said while the server was down' }).waitFor();
    await serve(store, websocket, ports);
    await delivered(page, 'said while the server was down');
    await waitFor(bob.state$, (s) => s === 'connected', 10_000);
    await page.waitForSelector('#state[data-state="connected"]');
    await bob.publishAsync('fallback', 'after the restart');
    await showsMessage(page, 'after the restart');
    await until(() => bobSees.texts().length === 4, 10_000);
    expect(test!.server.connections().map((c) => `${c.userId} ${c.carrier}`).sort()).to.deep.equal(['ada http', 'bob ws']);

    const expected = ['hello from the page', 'hello from websocket', 'said while the server was down', 'after the restart'];
    expect(await shown(page)).to.deep.equal(expected);
    expect(bobSees.texts()).to.deep.equal(expected);
    const ids = bobSees.ids();
    expect(ids).to.deep.equal(ids.map((_, i) => (ids[0] as number) + i));
    expect(bobSees.gaps()).to.deep.equal([]);
    // A reload reads the room's history: each message once, in order.
    await page.reload();
    await showsMessage(page, 'after the restart');
    expect(await shown(page)).to.deep.equal(expected);
  }

  /** A page that records its errors and the URLs of the WebSockets it opens. */
  async function openPage(): Promise<{ page: Page; pageErrors: string[]; sockets: string[] }> {
    const page = await browser!.newPage();
    page.setDefaultTimeout(15_000);
    const pageErrors: string[] = [];
    const sockets: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', (socket) => sockets.push(socket.url()));
    return { page, pageErrors, sockets };
  }

  it('works where the page has no WebSocket at all, both ways with a WebSocket user, and across a server restart', async function () {
    this.timeout(60_000);
    const store = new MemoryStore();
    await serve(store, true);
    const { page, pageErrors, sockets } = await openPage();
    await page.addInitScript(() => {
      delete (globalThis as { WebSocket?: unknown }).WebSocket;
    });
    try {
      await chatAcrossRestart(page, true, store);
      expect(sockets).to.deep.equal([]);
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await page.close();
    }
  });

  it('works where the server refuses the page\'s upgrade, both ways with a WebSocket user, and across a server restart', async function () {
    this.timeout(60_000);
    const store = new MemoryStore();
    // The page's upgrades are refused (as a proxy that blocks WebSocket would); Node's are not.
    const refuseBrowsers: WebSocketOption = (request) => !/Chrome/.test(request.headers['user-agent'] ?? '');
    await serve(store, refuseBrowsers);
    const { page, pageErrors, sockets } = await openPage();
    try {
      await chatAcrossRestart(page, refuseBrowsers, store);
      // It tried WebSocket first, and only as many times as the fallback allows before HTTP.
      expect(sockets.length).to.be.at.least(2);
      expect(pageErrors).to.deep.equal([]);
    } finally {
      await page.close();
    }
  });
});
