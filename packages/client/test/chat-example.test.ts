import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { createClient } from '../src/node.js';
import { installChromium, launchChromium } from './chromium.js';

// The chat page in examples/ as `pnpm start` serves it: the real main job in a child process
// (with its event log in a temporary folder and development tokens), the bundle it serves, and
// three people in chromium.

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const chat = join(repoRoot, 'examples', 'chat');

/** The few browser globals the functions below use: they run in the page, in Chromium. */
interface PageElement {
  readonly id: string;
  readonly textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
  value: string;
  querySelector(selector: string): PageElement | null;
  requestSubmit(): void;
}
declare const document: {
  readonly activeElement: PageElement | null;
  readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
};

/** The main job in a child process, as `pnpm start` runs it. */
class MainJob {
  child: ChildProcess | undefined;
  port = 0;

  constructor(readonly bundle: string) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts on `port` (0 = any free one) with the event log `log`; resolves once it listens. */
  start(log: string, port = this.port): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'packages', 'transport', 'dist', 'cli.js'),
        '--ws-port', String(port), '--tcp-port', '0', '--log', log, '--dev-tokens',
        '--asset', `/msghub.js=${this.bundle}`,
        '--asset', `/=${join(chat, 'index.html')}`,
        '--asset', `/favicon.svg=${join(chat, 'favicon.svg')}`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.child = child;
    return new Promise((resolve, reject) => {
      let output = '';
      child.once('exit', (code) => reject(new Error(`msghub-server exited with ${code}: ${output}`)));
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const match = /WebSocket ws:\/\/[\d.]+:(\d+)\//.exec(output);
        if (match === null) return;
        this.port = Number(match[1]);
        resolve();
      });
    });
  }

  /** Ctrl-C: the graceful shutdown (bye SHUTDOWN to every page, log flushed). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  }
}

interface ShownMessage {
  id: number;
  from: string;
  text: string;
  status: string | undefined;
}

/** The messages a page shows in its log, top to bottom. */
function shown(page: Page): Promise<ShownMessage[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#log li.msg')].map((item) => ({
      id: Number(item.dataset['id']),
      from: item.dataset['from'] ?? '',
      text: item.querySelector('.text')?.textContent ?? '',
      status: item.dataset['status'],
    })),
  );
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/** Waits until the page shows a message with exactly this text. */
async function showsMessage(page: Page, text: string): Promise<void> {
  await page.locator('#log li.msg .text', { hasText: text }).first().waitFor();
}

/** Opens (or creates) `room` in the page's room form, and waits until its own user is listed there. */
async function enter(page: Page, room: string): Promise<void> {
  await page.fill('#room-name', room);
  await page.press('#room-name', 'Enter');
  await page.locator('#room-title', { hasText: `# ${room}` }).waitFor();
  await page.waitForFunction(() => document.querySelector('#people li:first-child')?.textContent?.includes('(you)') === true);
}

/** Waits until the online list of `page` names exactly `users` (own name first, then sorted). */
async function online(page: Page, users: readonly string[]): Promise<void> {
  await page.waitForFunction(
    (expected) => [...document.querySelectorAll('#people li')].map((li) => li.dataset['user']).join() === expected,
    users.join(),
  );
}

describe('examples/chat served by the main job', function () {
  let browser: Browser | undefined;
  let job: MainJob;
  let dir = '';
  // One tab per person for the whole run: they move between rooms with the page's room form.
  let ada: Page;
  let grace: Page;
  let eve: Page;
  /** Tabs a single test opens and closes. */
  const extra: Page[] = [];
  /**
   * HTTP answers of 400 and above that any page got (a missing favicon, say). Not the HTTP
   * carrier's `503` (`SHUTDOWN`): a page that fell back to that carrier while the server was down
   * (two WebSocket attempts failed during a restart test) gets it, as documented, when it
   * reconnects while the next test stops the server, and retries.
   */
  const httpErrors: string[] = [];
  const pageErrors: string[] = [];

  async function openAs(user: string, room: string): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width: 1000, height: 620 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => pageErrors.push(`${user}: ${error.message}`));
    page.on('response', (response) => {
      const shutdown = response.status() === 503 && new URL(response.url()).pathname === '/_http';
      if (response.status() >= 400 && !shutdown) httpErrors.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${job.base}/?${new URLSearchParams({ user, room })}`);
    await page.waitForSelector('#state[data-state="connected"]');
    return page;
  }

  before(async function () {
    this.timeout(15 * 60_000);
    installChromium();
    const { bundle } = (await import(join(here, '..', 'scripts', 'bundle.mjs'))) as { bundle: () => Promise<string> };
    job = new MainJob(await bundle());
    dir = mkdtempSync(join(tmpdir(), 'msghub-chat-'));
    await job.start(join(dir, 'events.log'), 0);
    browser = await launchChromium();
    ada = await openAs('ada', 'lobby');
    grace = await openAs('grace', 'lobby');
    eve = await openAs('eve', 'lobby');
  });

  afterEach(async () => {
    await Promise.all(extra.splice(0).map((page) => page.close()));
    expect(pageErrors.splice(0)).to.deep.equal([]);
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    await job?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Saves the page for docs/chat.png: there when missing or MSGHUB_SCREENSHOT=1, else in the temp folder. */
  async function saveScreenshot(page: Page): Promise<void> {
    const docs = join(repoRoot, 'docs', 'chat.png');
    const path = process.env['MSGHUB_SCREENSHOT'] === '1' || !existsSync(docs) ? docs : join(dir, 'chat.png');
    await page.screenshot({ path });
    expect(readFileSync(path).subarray(1, 4).toString()).to.equal('PNG');
  }

  it('lists who is online once per user however many tabs, shows who is typing, and a whisper only at its two ends', async function () {
    this.timeout(30_000);
    await online(eve, ['eve', 'ada', 'grace']);
    const adaAgain = await openAs('ada', 'lobby');
    extra.push(adaAgain);
    await eve.locator('#people li[data-user="ada"] .sessions', { hasText: '2 tabs' }).waitFor();
    await online(eve, ['eve', 'ada', 'grace']);
    await adaAgain.close();
    await eve.locator('#people li[data-user="ada"] .sessions').waitFor({ state: 'detached' });

    await say(ada, 'Morning! Did the deploy go out?');
    await say(grace, 'Yes, ten minutes ago. The logs look clean.');
    await grace.click('#people li[data-user="ada"] button');
    expect(await grace.inputValue('#to')).to.equal('ada');
    await say(grace, 'psst: lunch at noon?');
    await grace.selectOption('#to', '');
    await say(eve, 'Nice work, both of you.');
    for (const page of [ada, grace, eve]) await showsMessage(page, 'Nice work, both of you.');
    await showsMessage(ada, 'psst: lunch at noon?');
    await showsMessage(grace, 'psst: lunch at noon?');
    expect((await shown(eve)).map((m) => m.text)).to.deep.equal([
      'Morning! Did the deploy go out?',
      'Yes, ten minutes ago. The logs look clean.',
      'Nice work, both of you.',
    ]);
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'Morning!' }).waitFor();
    const adaSees = await shown(ada);
    expect(adaSees.map((m) => m.id)).to.deep.equal([...adaSees.map((m) => m.id)].sort((a, b) => a - b));

    await eve.fill('#text', 'I will write the release notes');
    await ada.locator('#typing', { hasText: 'eve is typing' }).waitFor();
    await saveScreenshot(ada);
    await say(eve, 'I will write the release notes');
    await ada.waitForFunction(() => document.querySelector('#typing')?.textContent === '');

    await enter(eve, 'quiet');
    await online(ada, ['ada', 'grace']);
    await ada.locator('#log li.notice', { hasText: 'eve left' }).waitFor();
    expect(new URL(eve.url()).searchParams.get('room')).to.equal('quiet');
    expect(await eve.getAttribute('#rooms a[data-room="quiet"]', 'aria-current')).to.equal('page');
  });

  it('keeps typing out of the room history and the event log', async function () {
    this.timeout(30_000);
    await enter(ada, 'quiet');
    await enter(grace, 'quiet');
    await grace.fill('#text', 'typing but never sending this');
    await ada.locator('#typing', { hasText: 'grace is typing' }).waitFor();
    await say(ada, 'marker after typing');
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'marker after typing' }).waitFor();
    const log = join(dir, 'events.log');
    for (const deadline = Date.now() + 5000; !readFileSync(log, 'utf8').includes('marker after typing'); ) {
      if (Date.now() > deadline) throw new Error('the message never reached the event log');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(readFileSync(log, 'utf8')).not.to.match(/"typing"|never sending/);
    await grace.fill('#text', '');
    await ada.reload();
    await showsMessage(ada, 'marker after typing');
    expect(await ada.textContent('#log')).not.to.include('typing but never');
  });

  it('shows the history on load, after a reload and back in a room, each message once, and loads earlier pages on demand', async function () {
    this.timeout(30_000);
    const bot = createClient({ url: job.base.replace('http', 'ws'), user: 'bot', reconnect: false });
    const subscription = bot.join('busy').subscribe();
    for (let i = 1; i <= 150; i++) await bot.publishAsync('busy', `note ${i}`);
    subscription.unsubscribe();
    await bot.close();

    await enter(ada, 'busy');
    await showsMessage(ada, 'note 150');
    const first = await shown(ada);
    expect(first.length).to.be.within(30, 149);
    expect(first.at(-1)?.text).to.equal('note 150');
    await ada.click('#earlier');
    await showsMessage(ada, 'note 1');
    await ada.locator('#earlier').waitFor({ state: 'hidden' });
    expect((await shown(ada)).map((m) => m.text)).to.deep.equal(Array.from({ length: 150 }, (_, i) => `note ${i + 1}`));

    await enter(grace, 'busy');
    await say(ada, 'said before the reload');
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'said before the reload' }).waitFor();
    await grace.selectOption('#to', 'ada');
    await say(grace, 'a whisper before the reload');
    await grace.selectOption('#to', '');
    await showsMessage(ada, 'a whisper before the reload');
    await enter(eve, 'busy');
    for (const page of [ada, eve]) {
      await page.reload();
      await showsMessage(page, 'said before the reload');
    }
    await showsMessage(ada, 'a whisper before the reload');
    const again = await shown(ada);
    const ids = again.map((m) => m.id);
    expect(new Set(ids).size).to.equal(ids.length);
    expect(ids).to.deep.equal([...ids].sort((a, b) => a - b));
    expect(again.filter((m) => m.text === 'said before the reload')).to.have.length(1);
    expect((await shown(eve)).map((m) => m.text)).not.to.include('a whisper before the reload');

    // Back to a room from the list: its history is there again.
    await ada.click('#rooms a[data-room="lobby"]');
    await showsMessage(ada, 'Nice work, both of you.');
    expect(new URL(ada.url()).searchParams.get('room')).to.equal('lobby');
  });

  it('delivers a message sent while the server restarts, and shows one the send buffer cannot hold as failed, with a retry', async function () {
    // A server restart, a hundred sends and two reloads: on a loaded 2-core machine this takes a while.
    this.timeout(90_000);
    await enter(ada, 'restart');
    await enter(grace, 'restart');
    await say(ada, 'before the restart');
    await grace.locator('#log li.msg', { hasText: 'before the restart' }).waitFor();

    await job.stop();
    try {
      await duringRestart();
    } finally {
      // Whatever happened above, the tests after this one get their server back.
      if (job.child?.exitCode !== null) await job.start(join(dir, 'events.log'));
    }
  });

  /** The part of the restart test that runs while the server is down, then brings it back. */
  async function duringRestart(): Promise<void> {
    await ada.locator('#banners [data-kind="connection"]', { hasText: 'server is restarting' }).waitFor();
    await say(ada, 'during the restart');
    await ada.locator('#outbox li[data-status="waiting"]', { hasText: 'during the restart' }).waitFor();
    // The send buffer keeps 100 frames: fill it, and one more does not fit.
    await ada.evaluate(() => {
      const text = document.querySelector('#text')!;
      for (let i = 1; i <= 99; i++) {
        text.value = `filler ${i}`;
        document.querySelector('#send')!.requestSubmit();
      }
    });
    await say(ada, 'one too many');
    const failed = ada.locator('#outbox li[data-status="failed"]', { hasText: 'one too many' });
    await failed.waitFor();
    expect(await failed.textContent()).to.include('not sent');

    await job.start(join(dir, 'events.log'));
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'during the restart' }).waitFor();
    await ada.locator('#banners [data-kind="connection"]', { hasText: 'Reconnected after a server restart' }).waitFor();
    await showsMessage(grace, 'during the restart');
    await ada.waitForFunction(() => document.querySelectorAll('#outbox li').length === 1);
    await failed.getByRole('button', { name: 'Retry' }).click();
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'one too many' }).waitFor();
    expect(await ada.locator('#outbox li').count()).to.equal(0);

    await grace.reload();
    await showsMessage(grace, 'one too many');
    // The latest page holds the fillers; the earlier one the messages around the restart.
    await grace.click('#earlier');
    await showsMessage(grace, 'before the restart');
    const texts = (await shown(grace)).map((m) => m.text);
    expect(texts.filter((t) => t === 'during the restart')).to.have.length(1);
    expect(texts.indexOf('before the restart')).to.be.below(texts.indexOf('during the restart'));
    expect(texts.indexOf('during the restart')).to.be.below(texts.indexOf('filler 1'));
    expect(texts.indexOf('filler 99')).to.be.below(texts.indexOf('one too many'));
  }

  it('shows a message whose answer the connection lost as not confirmed, then finds it in the room instead of sending it twice', async function () {
    this.timeout(30_000);
    const page = await browser!.newPage({ viewport: { width: 1000, height: 620 } });
    extra.push(page);
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => pageErrors.push(`ada: ${error.message}`));
    // Between the page and the server: the first time "lost answer" is published, the server
    // commits it, but its event and its `ok` never reach the page, and the connection drops.
    let ref: unknown;
    let tripped = false;
    await page.routeWebSocket(() => true, (socket) => {
      const server = socket.connectToServer();
      socket.onMessage((message) => {
        const frame = JSON.parse(String(message)) as { type: string; ref?: unknown; data?: unknown };
        if (!tripped && frame.type === 'publish' && frame.data === 'lost answer') ref = frame.ref;
        server.send(message);
      });
      server.onMessage((message) => {
        const frame = JSON.parse(String(message)) as { type: string; ref?: unknown; event?: { message?: unknown } };
        if (!tripped && frame.type === 'event' && frame.event?.message === 'lost answer') return;
        if (!tripped && frame.type === 'ok' && ref !== undefined && frame.ref === ref) {
          tripped = true;
          void socket.close();
          void server.close();
          return;
        }
        socket.send(message);
      });
    });
    await page.goto(`${job.base}/?user=ada&room=lost`);
    await page.waitForSelector('#state[data-state="connected"]');
    await say(page, 'lost answer');
    const entry = page.locator('#outbox li[data-status="unknown"]', { hasText: 'lost answer' });
    await entry.waitFor();
    expect(await entry.getByRole('button', { name: 'Send again' }).count()).to.equal(1);
    await page.locator('#log li.msg[data-status="delivered"]', { hasText: 'lost answer' }).waitFor();
    expect(await page.locator('#outbox li').count()).to.equal(0);
    expect((await shown(page)).filter((m) => m.text === 'lost answer')).to.have.length(1);
    await page.reload();
    await showsMessage(page, 'lost answer');
    expect((await shown(page)).filter((m) => m.text === 'lost answer')).to.have.length(1);
  });

  it('shows a banner and a divider when the room\'s sequence starts over on the server, and goes on', async function () {
    this.timeout(30_000);
    await enter(ada, 'reset');
    await say(ada, 'in the old sequence');
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'in the old sequence' }).waitFor();
    await job.stop();
    // A new event log: the room's ids start again, and the page is told with an explicit gap.
    await job.start(join(dir, 'other.log'));
    await ada.locator('#banners [data-kind="gap"]', { hasText: 'new sequence' }).waitFor();
    await ada.locator('#log li.divider').waitFor();
    await say(ada, 'in the new sequence');
    await ada.locator('#log li.msg[data-status="delivered"]', { hasText: 'in the new sequence' }).waitFor();
    expect((await shown(ada)).map((m) => m.text)).to.deep.equal(['in the new sequence']);
  });

  it('explains a bad user or room name, sends no blank message, serves its favicon and fits a phone screen', async function () {
    this.timeout(30_000);
    const signIn = await browser!.newPage();
    extra.push(signIn);
    await signIn.goto(`${job.base}/?user=`);
    await signIn.locator('#signin-error', { hasText: 'cannot be empty' }).waitFor();
    expect(await signIn.isHidden('#app')).to.equal(true);
    await signIn.goto(`${job.base}/?user=${'x'.repeat(300)}`);
    await signIn.locator('#signin-error', { hasText: 'at most 256 characters' }).waitFor();
    await signIn.fill('#signin-name', 'grace');
    await signIn.click('#signin button');
    await signIn.waitForSelector('#state[data-state="connected"]');

    const phone = ada;
    await phone.setViewportSize({ width: 390, height: 760 });
    await phone.goto(`${job.base}/?user=ada&room=`);
    await phone.locator('#room-problem', { hasText: 'room name cannot be empty' }).waitFor();
    await phone.fill('#room-name', '   ');
    await phone.press('#room-name', 'Enter');
    await phone.locator('#room-name-error', { hasText: 'cannot be empty' }).waitFor();
    await enter(phone, 'phone-room');
    expect(new URL(phone.url()).searchParams.get('room')).to.equal('phone-room');
    expect(await phone.isHidden('#room-problem')).to.equal(true);

    await say(phone, '    ');
    await phone.locator('#send-hint', { hasText: 'blank messages are not sent' }).waitFor();
    expect(await phone.locator('#outbox li').count()).to.equal(0);
    expect(await phone.locator('#log li').count()).to.equal(0);
    expect(await phone.evaluate(() => document.activeElement?.id)).to.equal('text');
    expect(await phone.getByLabel('Message', { exact: true }).count()).to.equal(1);
    expect(await phone.getAttribute('#log', 'role')).to.equal('log');

    const width = await phone.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    expect(width[0]).to.be.at.most(width[1] as number);
    for (const selector of ['#text', '#send button', '#room-title', '#people']) {
      const box = await phone.locator(selector).boundingBox();
      expect(box, selector).to.not.equal(null);
      expect(box!.x + box!.width, selector).to.be.at.most(390);
      expect(box!.y + box!.height, selector).to.be.at.most(760);
    }

    // The browser's back button goes to the room before, through the URL.
    await phone.goBack();
    await phone.locator('#room-problem', { hasText: 'room name cannot be empty' }).waitFor();

    const icon = await fetch(`${job.base}/favicon.svg`);
    expect(icon.status).to.equal(200);
    expect(icon.headers.get('content-type')).to.equal('image/svg+xml');
    expect(await phone.getAttribute('link[rel="icon"]', 'href')).to.equal('/favicon.svg');
    expect(httpErrors).to.deep.equal([]);
  });
});
