import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMainArgs } from '../src/main.js';
import { parseExposition } from './exposition.js';

// The main job's --metrics and --admin flags, parsed and run.

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const TOKEN = 'operator-token-0123456789';

/** Starts msghub-server and resolves with its stdout once `lines` lines are out. */
function start(args: readonly string[], env: Record<string, string>, lines: number): Promise<{ child: ChildProcess; out: string[] }> {
  const child = spawn(process.execPath, [cli, '--ws-port', '0', '--tcp-port', '0', '--no-log', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  running.add(child);
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`msghub-server printed ${JSON.stringify(text)}`)), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += String(chunk);
      const out = text.split('\n').filter((line) => line !== '');
      if (out.length >= lines) {
        clearTimeout(timer);
        resolve({ child, out });
      }
    });
  });
}

const running = new Set<ChildProcess>();

describe('main job operator flags', () => {
  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
  });

  describe('parseMainArgs', () => {
    it('leaves metrics and the admin view off by default', () => {
      expect(parseMainArgs([], {})).to.include({ metrics: false, admin: false });
    });

    it('turns metrics on with --metrics or MSGHUB_METRICS, with MSGHUB_METRICS_TOKEN and --metrics-per-room', () => {
      expect(parseMainArgs(['--metrics'], {})?.metrics).to.deep.equal({ perRoom: 0 });
      expect(parseMainArgs([], { MSGHUB_METRICS: '1', MSGHUB_METRICS_TOKEN: TOKEN, MSGHUB_METRICS_PER_ROOM: '5' })?.metrics).to.deep.equal({ token: TOKEN, perRoom: 5 });
      expect(parseMainArgs(['--metrics', '--metrics-per-room', '3'], { MSGHUB_METRICS_PER_ROOM: '5' })?.metrics).to.deep.equal({ perRoom: 3 });
    });

    it('refuses metrics beyond loopback without a token, a short token, and a bad per-room count with a TypeError', () => {
      expect(() => parseMainArgs(['--metrics', '--host', '0.0.0.0'], {})).to.throw(TypeError, /MSGHUB_METRICS_TOKEN/);
      expect(parseMainArgs(['--metrics', '--host', '0.0.0.0'], { MSGHUB_METRICS_TOKEN: TOKEN })?.metrics).to.deep.equal({ token: TOKEN, perRoom: 0 });
      expect(() => parseMainArgs(['--metrics'], { MSGHUB_METRICS_TOKEN: 'short' })).to.throw(TypeError);
      expect(() => parseMainArgs(['--metrics', '--metrics-per-room', 'many'], {})).to.throw(TypeError);
      expect(() => parseMainArgs([], { MSGHUB_METRICS: 'yes' })).to.throw(TypeError);
    });

    it('turns the admin view on with --admin or MSGHUB_ADMIN, with MSGHUB_ADMIN_TOKEN or a random token', () => {
      expect(parseMainArgs(['--admin'], { MSGHUB_ADMIN_TOKEN: TOKEN })?.admin).to.deep.equal({ token: TOKEN, generated: false });
      const made = parseMainArgs([], { MSGHUB_ADMIN: 'true' })?.admin;
      const again = parseMainArgs([], { MSGHUB_ADMIN: 'true' })?.admin;
      expect(made).to.include({ generated: true });
      expect(made !== false && again !== false && made?.token !== again?.token).to.equal(true);
      expect(made !== false && made !== undefined && made.token.length >= 32).to.equal(true);
      expect(() => parseMainArgs(['--admin'], { MSGHUB_ADMIN_TOKEN: 'short' })).to.throw(TypeError);
    });
  });

  it('serves /metrics and the admin view, printing where and the admin token it made up', async function () {
    this.timeout(20_000);
    const { out } = await start(['--metrics', '--admin'], {}, 5);
    const metricsLine = out.find((line) => line.startsWith('msghub: metrics at '));
    const adminLine = out.find((line) => line.startsWith('msghub: admin view at '));
    const metricsUrl = /at (\S+)$/.exec(metricsLine ?? '')?.[1] as string;
    const [, adminUrl, token] = /at (\S+) \(token (\S+); set MSGHUB_ADMIN_TOKEN to choose one\)$/.exec(adminLine ?? '') ?? [];
    expect(metricsUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const families = parseExposition(await (await fetch(metricsUrl)).text());
    expect(families.get('msghub_rooms')?.type).to.equal('gauge');
    expect((await fetch(`${adminUrl}/api/state`)).status).to.equal(401);
    expect((await fetch(`${adminUrl}/api/state`, { headers: { authorization: `Bearer ${token}` } })).status).to.equal(200);
  });

  it('names the token variable instead of printing a token it was given', async function () {
    this.timeout(20_000);
    const { out } = await start(['--admin'], { MSGHUB_ADMIN_TOKEN: TOKEN }, 4);
    expect(out.at(-1)).to.match(/^msghub: admin view at http:\/\/127\.0\.0\.1:\d+\/admin \(token: MSGHUB_ADMIN_TOKEN\)$/);
    expect(out.join('\n')).not.to.include(TOKEN);
  });
});
