import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { createClient, type ClientError, type ConnectionState, type MsghubClient } from '../src/node.js';
import { installChromium, launchChromium } from './chromium.js';

// The admin view of the main job (`msghub-server --admin`) in Debian's chromium: an operator logs
// in, watches a room fill up as Node clients publish, and kicks one of them.

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const TOKEN = 'admin-view-test-token-0123456789';

/** Starts msghub-server with the admin view and resolves with the page's URL once it listens. */
function startMainJob(): Promise<{ child: ChildProcess; admin: string; ws: string }> {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'packages', 'transport', 'dist', 'cli.js'), '--ws-port', '0', '--tcp-port', '0', '--no-log', '--admin'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MSGHUB_ADMIN_TOKEN: TOKEN } },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('exit', (code) => reject(new Error(`msghub-server exited with ${code}: ${output}`)));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const ws = /WebSocket (ws:\/\/[\d.]+:\d+)\//.exec(output)?.[1];
      const admin = /admin view at (\S+) /.exec(output)?.[1];
      if (ws !== undefined && admin !== undefined) resolve({ child, admin, ws });
    });
  });
}

/** Text of the cell `column` of the room's row on the page, or undefined while it has none. */
function roomCell(page: Page, room: string, column: string): Promise<string | null> {
  return page.locator(`#rooms tr[data-room="${room}"] td.${column}`).textContent({ timeout: 10_000 });
}

interface LineCheck {
  readonly selector: string;
  readonly rgb: readonly [number, number, number];
}

/** In the page: whether the canvas has pixels of the line colour `rgb` (uPlot draws on a canvas). */
function drawsLine({ selector, rgb }: LineCheck): boolean {
  type Canvas = { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null };
  const { document } = globalThis as unknown as { document: { querySelector(selector: string): Canvas | null } };
  const canvas = document.querySelector(selector);
  if (canvas === null || canvas.width === 0) return false;
  const pixels = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
  if (pixels === undefined) return false;
  let hits = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const near = Math.abs((pixels[i] as number) - rgb[0]) + Math.abs((pixels[i + 1] as number) - rgb[1]) + Math.abs((pixels[i + 2] as number) - rgb[2]);
    if (near < 40 && (pixels[i + 3] as number) > 200) hits++;
  }
  return hits > 20;
}

async function pageUntil(page: Page, check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`the admin page never showed ${what}: ${await page.textContent('body')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the admin view in chromium', function () {
  let browser: Browser | undefined;
  let server: ChildProcess | undefined;
  let admin = '';
  let ws = '';
  const clients: MsghubClient[] = [];

  before(async function () {
    // First run on a fresh machine installs chromium from apt.
    this.timeout(15 * 60_000);
    installChromium();
    ({ child: server, admin, ws } = await startMainJob());
    browser = await launchChromium();
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(clients.map((client) => client.close()));
    await browser?.close();
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses a browser without the token: the page is the login form (401), the state is 401', async function () {
    this.timeout(30_000);
    const page = await browser!.newPage();
    const response = await page.goto(admin);
    expect(response?.status()).to.equal(401);
    expect(await page.locator('input[name=token]').count()).to.equal(1);
    await page.fill('input[name=token]', 'not-the-token-at-all');
    await page.press('input[name=token]', 'Enter');
    await page.locator('.error', { hasText: 'not the admin token' }).waitFor();
    const state = await page.evaluate(async () => (await fetch('/admin/api/state')).status);
    expect(state).to.equal(401);
    await page.close();
  });

  it('logs in, sees a room fill up as a Node client publishes, and kicks a user, whose client gets kicked', async function () {
    this.timeout(60_000);
    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(admin);
    await page.fill('input[name=token]', TOKEN);
    await page.press('input[name=token]', 'Enter');
    await page.locator('#status[data-state="live"]').waitFor({ timeout: 10_000 });

    const ada = createClient({ url: ws, user: 'ada' });
    const grace = createClient({ url: ws, user: 'grace' });
    clients.push(ada, grace);
    const graceStates: ConnectionState[] = [];
    const graceErrors: ClientError[] = [];
    grace.state$.subscribe((state) => graceStates.push(state));
    grace.errors$.subscribe((error) => graceErrors.push(error));
    const roomErrors: ClientError[] = [];
    ada.join('lobby').subscribe();
    grace.join('lobby').subscribe({ error: (error: ClientError) => roomErrors.push(error) });

    await pageUntil(page, async () => (await roomCell(page, 'lobby', 'sessions')) === '2', 'two sessions in lobby');
    // Both connect at once: the room lists them in the order they joined, either way round.
    expect(((await roomCell(page, 'lobby', 'members')) ?? '').split(', ').sort()).to.deep.equal(['ada', 'grace']);
    expect(await page.textContent('#users-online')).to.equal('2');
    expect(await page.textContent('#carriers')).to.equal('(ws 2)');

    // ada publishes 50 messages a second until the page shows the room's rate and the chart's line.
    let published = 0;
    const publisher = setInterval(() => {
      ada.publish('lobby', `message ${++published}`);
    }, 20);
    try {
      await pageUntil(page, async () => Number(await roomCell(page, 'lobby', 'rate')) > 0, 'a rate for lobby');
      await pageUntil(page, () => page.evaluate(drawsLine, { selector: '#throughput-chart canvas', rgb: [27, 95, 168] } as LineCheck), 'the committed line on the throughput chart');
      await pageUntil(page, async () => Number(await roomCell(page, 'lobby', 'last-id')) >= 2 + 50, 'fifty messages in lobby');
    } finally {
      clearInterval(publisher);
    }

    await page.locator('#users tr[data-user="grace"] button', { hasText: 'Kick' }).click();
    await page.locator('#notice', { hasText: 'Kicked grace (1 connection)' }).waitFor();
    const deadline = Date.now() + 10_000;
    while (!graceStates.includes('disconnected') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(graceErrors.map((error) => error.code)).to.include('KICKED');
    expect(roomErrors.map((error) => error.code)).to.deep.equal(['KICKED']);
    expect(graceStates.at(-1)).to.equal('disconnected');
    await pageUntil(page, async () => (await page.locator('#users tr[data-user="grace"]').count()) === 0, 'grace gone from the users');
    await pageUntil(page, async () => (await roomCell(page, 'lobby', 'sessions')) === '1', 'one session left in lobby');
    expect(ada.state).to.equal('connected');
    expect(pageErrors).to.deep.equal([]);
    await page.close();
  });
});
