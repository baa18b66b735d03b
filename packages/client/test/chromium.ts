import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

// The real browser of the client's browser tests: Debian's chromium, installed when missing.

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Installs chromium from apt when it is not on PATH (the first run on a fresh machine). */
export function installChromium(): void {
  const install = spawnSync('bash', [join(repoRoot, 'scripts', 'install-chromium.sh')], { stdio: 'inherit' });
  if (install.status !== 0) throw new Error(`scripts/install-chromium.sh exited with ${install.status}`);
}

function chromiumPath(): string {
  const found = spawnSync('which', ['chromium'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') throw new Error('chromium is not installed (scripts/install-chromium.sh failed?)');
  return path;
}

/** Launches the installed chromium headless, with nothing that reaches beyond this machine. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}
