import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PortUnavailableError, parseMainArgs, startMain } from '../src/main.js';
import WebSocket from 'ws';
import { TestClient, cleanup } from './helpers.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

/** Resolves with the first group of `pattern` once the child's stdout matches it. */
function outputMatch(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ${String(pattern)} in ${JSON.stringify(out)}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const match = pattern.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1] ?? match[0]);
      }
    });
  });
}

/** Runs msghub-server to its end and resolves with its exit status and output. */
function runToExit(args: readonly string[], timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const run = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    run.stdout.on('data', (chunk: Buffer) => (stdout += String(chunk)));
    run.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    const timer = setTimeout(() => {
      run.kill('SIGKILL');
      reject(new Error(`msghub-server ${args.join(' ')} did not exit: ${stdout}${stderr}`));
    }, timeoutMs);
    run.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A TCP server holding a free port on 127.0.0.1, standing in for another program. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** `msghub-server` in a child process on free ports, once it printed its addresses. */
async function spawnMain(log: string): Promise<{ child: ChildProcess; wsUrl: string; tcpPort: number }> {
  const child = spawn(process.execPath, [cli, '--ws-port', '0', '--tcp-port', '0', '--log', log], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const [wsUrl, tcpPort] = await new Promise<[string, number]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address in ${out}`)), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const ws = /WebSocket (ws:\/\/\S+)/.exec(out);
      const tcp = /TCP \S+:(\d+)/.exec(out);
      if (ws !== null && tcp !== null && out.includes('event log')) {
        clearTimeout(timer);
        resolve([ws[1] as string, Number(tcp[1])]);
      }
    });
  });
  return { child, wsUrl, tcpPort };
}

/** Kills `child` with SIGKILL and waits until it is gone. */
async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** The `direct` frames `client` got up to a ping's answer (pending ones come right after welcome, before it). */
async function directsNow(client: TestClient): Promise<Record<string, unknown>[]> {
  client.send({ type: 'ping', ts: 42 });
  await client.waitFor((frame) => frame.type === 'pong' && frame['ts'] === 42);
  return client.frames.filter((frame) => frame.type === 'direct');
}

/** The types of the room events in the log, without the store's epoch lines. */
function eventTypes(log: string): string[] {
  const types = readFileSync(log, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { type: string }).type);
  return types.filter((type) => type !== 'epoch');
}

describe('main job', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'msghub-main-'));
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = undefined;
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('parseMainArgs', () => {
    it('takes flags over the environment over the defaults', () => {
      const config = parseMainArgs(['--ws-port', '9000'], { MSGHUB_WS_PORT: '7000', MSGHUB_TCP_PORT: '7001' });
      expect(config).to.include({ host: '127.0.0.1', wsPort: 9000, tcpPort: 7001, trustClientUser: true });
      expect(config?.log).to.match(/log[/\\]events\.log$/);
      expect(parseMainArgs(['--no-log', '--require-token'], {})).to.include({ log: undefined, trustClientUser: false });
      expect(parseMainArgs(['--help'], {})).to.equal(undefined);
    });

    it('turns the HTTP API on with the key in MSGHUB_API_KEY, or in the variable --api-key-env names', () => {
      expect(parseMainArgs([], {})?.apiKey).to.equal(undefined);
      expect(parseMainArgs([], { MSGHUB_API_KEY: '' })?.apiKey).to.equal(undefined);
      expect(parseMainArgs([], { MSGHUB_API_KEY: 'k'.repeat(16) })?.apiKey).to.equal('k'.repeat(16));
      expect(parseMainArgs(['--api-key-env', 'MY_KEY'], { MY_KEY: 'm'.repeat(16), MSGHUB_API_KEY: 'k'.repeat(16) })?.apiKey).to.equal('m'.repeat(16));
      expect(() => parseMainArgs(['--api-key-env', 'MY_KEY'], { MSGHUB_API_KEY: 'k'.repeat(16) })).to.throw(TypeError);
    });

    it('turns dev tokens on with --dev-tokens or MSGHUB_DEV_TOKENS, with the secret from MSGHUB_DEV_TOKENS_SECRET', () => {
      expect(parseMainArgs([], {})?.devTokens).to.equal(false);
      expect(parseMainArgs([], { MSGHUB_DEV_TOKENS: '0' })?.devTokens).to.equal(false);
      expect(parseMainArgs(['--dev-tokens'], {})?.devTokens).to.equal(true);
      expect(parseMainArgs([], { MSGHUB_DEV_TOKENS: '1' })?.devTokens).to.equal(true);
      expect(parseMainArgs(['--dev-tokens'], { MSGHUB_DEV_TOKENS_SECRET: 'pw' })?.devTokens).to.deep.equal({ secret: 'pw' });
      expect(parseMainArgs([], { MSGHUB_DEV_TOKENS_SECRET: 'pw' })?.devTokens).to.equal(false);
      expect(() => parseMainArgs([], { MSGHUB_DEV_TOKENS: 'yes please' })).to.throw(TypeError);
    });

    it('turns WebSocket upgrades and the HTTP carrier off with --no-websocket, --no-http or their variables', () => {
      expect(parseMainArgs([], {})).to.include({ websocket: true, http: true });
      expect(parseMainArgs(['--no-websocket', '--no-http'], {})).to.include({ websocket: false, http: false });
      expect(parseMainArgs([], { MSGHUB_WEBSOCKET: '0', MSGHUB_HTTP: '0' })).to.include({ websocket: false, http: false });
    });

    it('reads the allowed origins from --allowed-origin (repeatable) or MSGHUB_ALLOWED_ORIGINS, and rejects a bad one', () => {
      expect(parseMainArgs([], {})?.allowedOrigins).to.equal(undefined);
      expect(parseMainArgs(['--allowed-origin', 'https://a.example', '--allowed-origin', 'http://localhost:3000'], {})?.allowedOrigins)
        .to.deep.equal(['https://a.example', 'http://localhost:3000']);
      expect(parseMainArgs([], { MSGHUB_ALLOWED_ORIGINS: 'https://a.example, https://b.example' })?.allowedOrigins).to.deep.equal(['https://a.example', 'https://b.example']);
      expect(parseMainArgs(['--allowed-origin', '*'], {})?.allowedOrigins).to.deep.equal(['*']);
      expect(() => parseMainArgs(['--allowed-origin', 'a.example'], {})).to.throw(TypeError, /--allowed-origin/);
      expect(() => parseMainArgs([], { MSGHUB_ALLOWED_ORIGINS: 'https://*.example' })).to.throw(TypeError, /MSGHUB_ALLOWED_ORIGINS/);
    });

    it('turns permessage-deflate on with --per-message-deflate or MSGHUB_PER_MESSAGE_DEFLATE, with an optional threshold', () => {
      expect(parseMainArgs([], {})?.perMessageDeflate).to.equal(false);
      expect(parseMainArgs(['--per-message-deflate'], {})?.perMessageDeflate).to.deep.equal({});
      expect(parseMainArgs([], { MSGHUB_PER_MESSAGE_DEFLATE: '1', MSGHUB_PER_MESSAGE_DEFLATE_THRESHOLD: '64' })?.perMessageDeflate).to.deep.equal({ threshold: 64 });
      expect(parseMainArgs(['--per-message-deflate', '--per-message-deflate-threshold', '0'], {})?.perMessageDeflate).to.deep.equal({ threshold: 0 });
      expect(() => parseMainArgs(['--per-message-deflate', '--per-message-deflate-threshold', 'lots'], {})).to.throw(TypeError);
      expect(() => parseMainArgs(['--per-message-deflate-threshold', '64'], {})).to.throw(TypeError);
      expect(() => parseMainArgs([], { MSGHUB_PER_MESSAGE_DEFLATE: 'yes' })).to.throw(TypeError);
    });

    it('rejects a bad port, a bad asset and an unknown flag with a TypeError', () => {
      expect(() => parseMainArgs(['--ws-port', 'x'], {})).to.throw(TypeError);
      expect(() => parseMainArgs(['--asset', 'nope'], {})).to.throw(TypeError);
      expect(() => parseMainArgs(['--bogus'], {})).to.throw(TypeError);
    });
  });

  it('refuses pages of unlisted origins and compresses for clients that offer it, with --allowed-origin and --per-message-deflate', async () => {
    const config = parseMainArgs(['--ws-port', '0', '--tcp-port', '0', '--no-log', '--allowed-origin', 'https://chat.example', '--per-message-deflate'], {})!;
    const job = await startMain(config);
    try {
      const url = `ws://127.0.0.1:${job.addresses.ws?.port}/`;
      const status = (origin: string): Promise<number | 'open'> =>
        new Promise((resolve) => {
          const ws = new WebSocket(url, { headers: { origin } });
          ws.once('open', () => {
            resolve('open');
            ws.terminate();
          });
          ws.once('unexpected-response', (_request, response) => {
            resolve(response.statusCode ?? 0);
            ws.terminate();
          });
          ws.on('error', () => {});
        });
      expect(await status('https://elsewhere.example')).to.equal(403);
      expect(await status('https://chat.example')).to.equal('open');
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      expect(ws.extensions).to.match(/^permessage-deflate/);
      ws.terminate();
      expect(job.server.metrics().originRefusals).to.equal(1);
    } finally {
      await job.close();
    }
  });

  it('logs every event of every room to the event log and flushes it on close', async () => {
    const log = join(dir, 'nested', 'events.log');
    const job = await startMain({ host: '127.0.0.1', wsPort: 0, tcpPort: 0, wsPath: undefined, log, fsync: 'batch' as const, trustClientUser: true, assets: {} });
    const client = await TestClient.tcp(job.addresses.tcp?.port ?? 0);
    await client.hello({ user: 'ada' });
    client.send({ type: 'join', ref: 1, room: 'lobby' });
    client.send({ type: 'publish', ref: 2, room: 'lobby', data: 'logged' });
    await client.waitFor((f) => f.type === 'ok' && f['ref'] === 2);
    await job.close();
    const types = eventTypes(log);
    expect(types).to.deep.equal(['join', 'message', 'leave', 'close']);
  });

  it('continues every room from its last logged event id after a restart, in the same epoch', async () => {
    const log = join(dir, 'events.log');
    const config = { host: '127.0.0.1', wsPort: 0, tcpPort: 0, wsPath: undefined, log, fsync: 'batch' as const, trustClientUser: true, assets: {} };
    const first = await startMain(config);
    const ada = await TestClient.tcp(first.addresses.tcp?.port ?? 0);
    await ada.hello({ user: 'ada' });
    ada.send({ type: 'join', ref: 1, room: 'lobby' });
    const { epoch } = await ada.next('ok');
    ada.send({ type: 'publish', ref: 2, room: 'lobby', data: 'before' });
    await ada.waitFor((f) => f.type === 'ok' && f['ref'] === 2);
    await first.close();
    // join 1, message 2, leave 3, close 4: the restarted room goes on at 5.
    const second = await startMain(config);
    const bob = await TestClient.tcp(second.addresses.tcp?.port ?? 0);
    await bob.hello({ user: 'bob' });
    bob.send({ type: 'join', ref: 1, room: 'lobby', since: 1, epoch });
    expect(await bob.next('ok')).to.include({ lastEventId: 4, epoch });
    const replayed = await bob.next('event');
    expect(replayed['event']).to.include({ id: 2, type: 'message', message: 'before' });
    const own = await bob.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'join');
    expect(own['event']).to.include({ id: 5, userId: 'bob' });
    await second.close();
  });

  it('answers a join replaying from the start after a restart with the room\'s last id, never taking an earlier session for its own', async () => {
    const log = join(dir, 'events.log');
    const config = { host: '127.0.0.1', wsPort: 0, tcpPort: 0, wsPath: undefined, log, trustClientUser: true, assets: {} };
    const first = await startMain(config);
    const ada = await TestClient.tcp(first.addresses.tcp?.port ?? 0);
    const before = await ada.hello({ user: 'ada' });
    ada.send({ type: 'join', ref: 1, room: 'lobby' });
    await ada.next('ok');
    await first.close();
    // join 1, leave 2, close 3: the restarted room goes on at 4.
    const second = await startMain(config);
    const bob = await TestClient.tcp(second.addresses.tcp?.port ?? 0);
    const after = await bob.hello({ user: 'bob' });
    expect(after['connectionId']).to.not.equal(before['connectionId']);
    bob.send({ type: 'join', ref: 1, room: 'lobby', since: 0 });
    expect(await bob.next('ok')).to.include({ lastEventId: 3 });
    const replayed = await bob.next('event');
    expect(replayed['event']).to.include({ id: 1, type: 'join', userId: 'ada', sessionId: before['connectionId'] });
    const own = await bob.waitFor((f) => f.type === 'event' && (f['event'] as { type: string }).type === 'join');
    expect(own['event']).to.include({ id: 4, userId: 'bob', sessionId: after['connectionId'] });
    await second.close();
  });

  it('hands out connect tokens at POST /dev/token only with --dev-tokens', async function () {
    this.timeout(20_000);
    const off = await startMain(parseMainArgs(['--ws-port', '0', '--tcp-port', '0', '--no-log', '--require-token'], {})!);
    const offUrl = `http://127.0.0.1:${off.addresses.ws?.port}/dev/token`;
    expect((await fetch(offUrl, { method: 'POST', body: '{"user":"ada"}' })).status).to.equal(404);
    await off.close();

    child = spawn(process.execPath, [cli, '--ws-port', '0', '--tcp-port', '0', '--no-log', '--require-token', '--dev-tokens'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tokenUrl = await outputMatch(child, /dev tokens at POST (http:\/\/\S+)/);
    const response = await fetch(tokenUrl, { method: 'POST', body: JSON.stringify({ user: 'ada' }) });
    const { token } = (await response.json()) as { token: string };
    const client = await TestClient.ws(tokenUrl.replace('http:', 'ws:').replace('/dev/token', '/'));
    expect(await client.hello({ token })).to.include({ userId: 'ada' });
    // --require-token: a client-chosen user id is refused.
    const impostor = await TestClient.ws(tokenUrl.replace('http:', 'ws:').replace('/dev/token', '/'));
    impostor.send({ type: 'hello', v: 1, user: 'grace' });
    expect(await impostor.next('error')).to.include({ code: 'AUTH_FAILED' });
    // A token bound to rooms: other rooms are FORBIDDEN.
    const bound = (await (await fetch(tokenUrl, { method: 'POST', body: JSON.stringify({ user: 'bob', rooms: ['lobby'] }) })).json()) as { token: string };
    const bob = await TestClient.ws(tokenUrl.replace('http:', 'ws:').replace('/dev/token', '/'));
    await bob.hello({ token: bound.token });
    bob.send({ type: 'join', ref: 1, room: 'lobby' });
    expect(await bob.next('ok')).to.include({ ref: 1 });
    bob.send({ type: 'join', ref: 2, room: 'kitchen' });
    expect(await bob.next('error')).to.include({ code: 'FORBIDDEN', ref: 2 });
  });

  describe('start-up', () => {
    let holder: Server | undefined;
    afterEach(async () => {
      await new Promise<void>((resolve) => (holder === undefined ? resolve() : holder.close(() => resolve())));
      holder = undefined;
    });

    for (const [flag, carrier] of [['--ws-port', 'WebSocket'], ['--tcp-port', 'TCP']] as const) {
      it(`says in one line that the ${carrier} port is in use and which flag changes it, and exits 1`, async function () {
        this.timeout(15_000);
        const held = await holdPort();
        holder = held.server;
        const other = flag === '--ws-port' ? '--tcp-port' : '--ws-port';
        const { code, stderr } = await runToExit([flag, String(held.port), other, '0', '--no-log']);
        expect(code).to.equal(1);
        const lines = stderr.trim().split('\n');
        expect(lines).to.have.length(1);
        expect(lines[0]).to.include(`${carrier} port ${held.port}`).and.to.include(`${flag} <port>`);
      });
    }

    it('rejects startMain with PortUnavailableError naming the flag, and leaves no port bound', async () => {
      const held = await holdPort();
      holder = held.server;
      const free = await holdPort();
      await new Promise<void>((resolve) => free.server.close(() => resolve()));
      const config = parseMainArgs(['--ws-port', String(free.port), '--tcp-port', String(held.port), '--no-log'], {})!;
      const error = await startMain(config).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).to.be.instanceOf(PortUnavailableError).and.to.include({ code: 'PORT_UNAVAILABLE', flag: '--tcp-port', port: held.port });
      // The WebSocket port, bound before the TCP one failed, was let go again.
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(free.port, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => again.close(() => resolve()));
    });

    it('prints the chat page URL when it serves a page at /, and the page is there', async function () {
      this.timeout(20_000);
      const page = join(dir, 'index.html');
      writeFileSync(page, '<title>chat</title>');
      child = spawn(process.execPath, [cli, '--ws-port', '0', '--tcp-port', '0', '--no-log', '--asset', `/=${page}`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const url = await outputMatch(child, /^msghub: chat page at (http:\/\/127\.0\.0\.1:\d+\/\?user=ada)$/m);
      const response = await fetch(url);
      expect(response.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(await response.text()).to.equal('<title>chat</title>');
    });

    it('prints no chat page URL without a page at /', async function () {
      this.timeout(20_000);
      const script = join(dir, 'a.js');
      writeFileSync(script, 'export {};');
      child = spawn(process.execPath, [cli, '--ws-port', '0', '--tcp-port', '0', '--no-log', '--asset', `/a.js=${script}`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => (stdout += String(chunk)));
      await outputMatch(child, /event log/);
      const exited = new Promise((resolve) => child?.once('close', resolve));
      child.kill('SIGINT');
      await exited;
      child = undefined;
      expect(stdout).to.include('msghub: stopped').and.not.to.include('chat page');
    });
  });

  it('shuts down on SIGINT (Ctrl-C) and exits 0 with nothing on stderr', async function () {
    this.timeout(20_000);
    child = spawn(process.execPath, [cli, '--ws-port', '0', '--tcp-port', '0', '--no-log'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    const wsUrl = await outputMatch(child, /WebSocket (ws:\/\/\S+)/);
    const client = await TestClient.ws(wsUrl);
    await client.hello({ user: 'ada' });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await client.next('bye')).to.include({ code: 'SHUTDOWN' });
    expect(await exited).to.equal(0);
    child = undefined;
    expect(stderr).to.equal('');
  });

  it('runs as msghub-server and shuts down gracefully on SIGTERM', async function () {
    this.timeout(20_000);
    const log = join(dir, 'events.log');
    const started = await spawnMain(log);
    child = started.child;
    const { wsUrl } = started;
    const client = await TestClient.ws(wsUrl);
    await client.hello({ user: 'ada' });
    client.send({ type: 'join', ref: 1, room: 'lobby' });
    await client.next('ok');
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await client.next('bye')).to.include({ code: 'SHUTDOWN' });
    expect(await exited).to.equal(0);
    child = undefined;
    const types = eventTypes(log);
    expect(types).to.deep.equal(['join', 'leave', 'close']);
  });

  it('keeps every direct its sender got ok for across a SIGKILL, sends each to the user once, and keeps acks across the next one', async function () {
    this.timeout(30_000);
    const log = join(dir, 'events.log');
    let started = await spawnMain(log);
    child = started.child;
    const ada = await TestClient.tcp(started.tcpPort);
    await ada.hello({ user: 'ada' });
    const count = 50;
    for (let i = 0; i < count; i++) ada.send({ type: 'direct', ref: i, to: 'bob', data: i });
    ada.send({ type: 'direct', ref: 'brief', to: 'bob', data: 'brief', ttlMs: 1 });
    for (let i = 0; i < count; i++) expect(await ada.next()).to.deep.equal({ type: 'ok', ref: i });
    expect(await ada.next()).to.deep.equal({ type: 'ok', ref: 'brief' });
    await killHard(started.child);

    started = await spawnMain(log);
    child = started.child;
    const bob = await TestClient.ws(started.wsUrl);
    await bob.hello({ user: 'bob' });
    const got = await directsNow(bob);
    expect(got.map((frame) => frame['data'])).to.deep.equal(Array.from({ length: count }, (_, i) => i));
    const ids = got.map((frame) => frame['id'] as string);
    expect(new Set(ids).size).to.equal(count);
    bob.send({ type: 'ack', ref: 'acked', direct: ids });
    expect(await bob.next('ok')).to.include({ ref: 'acked' });
    await killHard(started.child);

    started = await spawnMain(log);
    child = started.child;
    const again = await TestClient.tcp(started.tcpPort);
    await again.hello({ user: 'bob' });
    expect(await directsNow(again)).to.deep.equal([]);
    const ada2 = await TestClient.tcp(started.tcpPort);
    await ada2.hello({ user: 'ada' });
    ada2.send({ type: 'direct', ref: 1, to: 'bob', data: 'after' });
    const live = await again.next('direct');
    expect(live).to.include({ data: 'after' });
    expect(ids).to.not.include(live['id']);
  });
});
