import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The commands README.md tells a new user to run, run as written from the repository root.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs `npx <args>` in the repository root to its end. */
function npx(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('npx', args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The pnpm 10 that `npx -y pnpm@10` runs, as a file node can start (so its own exit status is seen). */
function pnpmBin(): string {
  const found = npx(['-y', '-p', 'pnpm@10', 'which', 'pnpm']);
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') throw new Error(`cannot find pnpm 10 through npx: ${found.stderr}`);
  return path;
}

function waitFor(child: ChildProcess, output: { text: string }, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${String(pattern)} in ${JSON.stringify(output.text)}`)), timeoutMs);
    const look = (): void => {
      const match = pattern.exec(output.text);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', look);
      resolve(match);
    };
    child.stdout?.on('data', look);
    child.once('exit', () => reject(new Error(`exited before ${String(pattern)}: ${output.text}`)));
    look();
  });
}

describe('README commands', () => {
  describe('npx msghub-log / npx msghub-server after install', () => {
    it('msghub-log --help prints its usage and exits 0', () => {
      const run = npx(['msghub-log', '--help']);
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/^Usage: msghub-log <command>/);
    });

    it('msghub-server --help prints its usage and exits 0', () => {
      const run = npx(['msghub-server', '--help']);
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/^Usage: msghub-server \[options\]/);
    });
  });

  describe('npx -y pnpm@10 start', () => {
    let child: ChildProcess | undefined;
    afterEach(() => {
      // Whatever is left of the process group (the test failed half way).
      if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
      child = undefined;
    });

    it('serves the chat page it names, and Ctrl-C shuts it down gracefully: exit 0, no ELIFECYCLE', async function () {
      this.timeout(120_000);
      // Its own process group, like a terminal's foreground job: Ctrl-C signals every process in it.
      child = spawn(process.execPath, [pnpmBin(), 'start', '--ws-port', '0', '--tcp-port', '0', '--no-log'], {
        cwd: root,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = { text: '' };
      child.stdout?.on('data', (chunk: Buffer) => (output.text += String(chunk)));
      child.stderr?.on('data', (chunk: Buffer) => (output.text += String(chunk)));
      const exited = new Promise<number | null>((resolve) => child?.once('close', (code) => resolve(code)));
      const [, page] = await waitFor(child, output, /msghub: chat page at (\S+)/, 90_000);
      const html = await (await fetch(page as string)).text();
      expect(html).to.include("import { createClient } from '/msghub.js'");
      expect((await fetch(new URL('/msghub.js', page))).status).to.equal(200);
      expect((await fetch(new URL('/favicon.svg', page))).status).to.equal(200);

      process.kill(-(child.pid as number), 'SIGINT');
      expect(await exited, output.text).to.equal(0);
      expect(output.text).to.include('msghub: stopped').and.not.to.include('ELIFECYCLE');
    });
  });
});
