import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { installChromium, launchChromium } from './chromium.js';

// docs/client.md "In a browser", run as written: examples/browser/server.ts in a child process
// serves examples/browser/index.html, the bundle and dev tokens; two people chat in chromium.

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');

/** Starts examples/browser/server.ts on a free port and resolves with the URL it prints. */
function startExampleServer(): Promise<{ child: ChildProcess; base: string }> {
  // `--import tsx` resolves from the working directory: the repository root has tsx.
  const child = spawn(process.execPath, ['--import', 'tsx', join('examples', 'browser', 'server.ts')], {
    cwd: repoRoot,
    env: { ...process.env, MSGHUB_WS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('exit', (code) => reject(new Error(`examples/browser/server.ts exited with ${code}: ${output}`)));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /open (http:\/\/[\d.]+:\d+)\//.exec(output);
      if (match) resolve({ child, base: match[1] as string });
    });
  });
}

/** Opens the page as `user` and collects what it logs. */
async function openAs(browser: Browser, base: string, user: string): Promise<{ page: Page; logged: string[] }> {
  const page = await browser.newPage();
  const logged: string[] = [];
  page.on('console', (message) => logged.push(message.text()));
  await page.goto(`${base}/?user=${user}`);
  await page.waitForSelector('body[data-state="connected"]', { timeout: 10_000 });
  return { page, logged };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('examples/browser (docs/client.md, in a browser)', function () {
  let browser: Browser | undefined;
  let server: ChildProcess | undefined;
  let base = '';

  before(async function () {
    this.timeout(15 * 60_000);
    installChromium();
    const { bundle } = (await import(join(here, '..', 'scripts', 'bundle.mjs'))) as { bundle: () => Promise<string> };
    await bundle();
    ({ child: server, base } = await startExampleServer());
    browser = await launchChromium();
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

  it('connects with a dev token per page and carries a message sent from the form to both pages', async function () {
    this.timeout(30_000);
    const ada = await openAs(browser!, base, 'ada');
    const grace = await openAs(browser!, base, 'grace');
    await ada.page.fill('input[name=text]', 'hello from the page');
    await ada.page.press('input[name=text]', 'Enter');
    await until(() => grace.logged.includes('ada hello from the page'), "grace's page to log ada's message");
    await until(() => ada.logged.includes('ada hello from the page'), "ada's page to log her own message");
    expect(grace.logged.filter((line) => line.startsWith('missed events'))).to.deep.equal([]);
  });
});
