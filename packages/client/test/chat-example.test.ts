import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

// The chat page in examples/ as `pnpm start` serves it: the real main job in a child process, the
// bundle it serves, and two people in chromium.

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

function chromiumPath(): string {
  const found = spawnSync('which', ['chromium'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') throw new Error('chromium is not installed (scripts/install-chromium.sh failed?)');
  return path;
}

/** Starts msghub-server on free ports and resolves with its HTTP base URL once it listens. */
function startMainJob(bundle: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'packages', 'transport', 'dist', 'cli.js'),
      '--ws-port', '0', '--tcp-port', '0', '--no-log',
      '--asset', `/msghub.js=${bundle}`,
      '--asset', `/=${join(repoRoot, 'examples', 'chat', 'index.html')}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('exit', (code) => reject(new Error(`msghub-server exited with ${code}: ${output}`)));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /WebSocket ws:\/\/([\d.]+:\d+)\//.exec(output);
      if (match) resolve({ child, base: `http://${match[1]}` });
    });
  });
}

async function openAs(browser: Browser, base: string, user: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${base}/?user=${user}`);
  await page.waitForSelector('#state[data-state="connected"]', { timeout: 10_000 });
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('input[name=text]', text);
  await page.press('input[name=text]', 'Enter');
}

describe('examples/chat served by the main job', function () {
  let browser: Browser | undefined;
  let server: ChildProcess | undefined;
  let base = '';

  before(async function () {
    this.timeout(15 * 60_000);
    const install = spawnSync('bash', [join(repoRoot, 'scripts', 'install-chromium.sh')], { stdio: 'inherit' });
    if (install.status !== 0) throw new Error(`scripts/install-chromium.sh exited with ${install.status}`);
    const { bundle } = (await import(join(here, '..', 'scripts', 'bundle.mjs'))) as { bundle: () => Promise<string> };
    ({ child: server, base } = await startMainJob(await bundle()));
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  });

  it('carries a message to everyone and a whisper only to its two ends', async function () {
    this.timeout(30_000);
    const ada = await openAs(browser!, base, 'ada');
    const grace = await openAs(browser!, base, 'grace');
    const eve = await openAs(browser!, base, 'eve');
    await say(ada, 'hello from ada');
    await say(grace, '/w ada just for you');
    await ada.locator('#log', { hasText: 'just for you' }).waitFor();
    await grace.locator('#log', { hasText: 'just for you' }).waitFor();
    await say(eve, 'eve was here');
    for (const page of [ada, grace, eve]) {
      await page.locator('#log', { hasText: 'eve was here' }).waitFor();
    }
    const eveLog = await eve.textContent('#log');
    expect(eveLog).to.include('hello from ada');
    expect(eveLog).not.to.include('just for you');
    expect(await ada.textContent('#log')).to.include('grace → ada:');
    await ada.locator('#online', { hasText: /^3 online$/ }).waitFor();
  });
});
