import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@msghub/client/node';
import { RedisServer } from '../packages/cluster/test/redis-server.js';

// The code in README.md and docs/*.md is the code in examples/: a fenced block right after an
// `<!-- example: examples/x.ts -->` line must be that file byte for byte, every block that is a
// whole program (it imports something) must be such an example, and every example runs here as
// written, in a child process, against a real server where it needs one. A block after an
// `<!-- excerpt: examples/x -->` line quotes part of that file, and must still be in it.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = import.meta.resolve('tsx');
const msghubServer = join(root, 'packages', 'transport', 'dist', 'cli.js');
const msghubLog = join(root, 'packages', 'datalog', 'dist', 'cli.js');

interface Block {
  readonly where: string;
  readonly lang: string;
  readonly text: string;
  /** The file the block shows, from the marker line right above it. */
  readonly example: string | undefined;
  /** The file the block quotes part of, from an excerpt marker right above it. */
  readonly excerpt: string | undefined;
}

const MARKER = /^<!-- example: (\S+) -->$/;
const EXCERPT = /^<!-- excerpt: (\S+) -->$/;

/** The fenced code blocks of a markdown file. */
function blocksOf(doc: string): Block[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(```+)(\S*)\s*$/.exec(lines[i] as string);
    if (open === null) continue;
    const fence = open[1] as string;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== fence; i++) body.push(lines[i] as string);
    const marker = MARKER.exec(lines[start - 1] ?? '');
    blocks.push({
      where: `${doc}:${start + 1}`,
      lang: open[2] as string,
      text: body.map((line) => `${line}\n`).join(''),
      example: marker?.[1],
      excerpt: EXCERPT.exec(lines[start - 1] ?? '')?.[1],
    });
  }
  return blocks;
}

const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const blocks = docs.flatMap(blocksOf);
const examples = blocks.filter((block) => block.example !== undefined);

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs an example (TypeScript through tsx) to its end; fails the test past `timeoutMs`. */
function runExample(file: string, options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Outcome> {
  return runNode(['--import', tsx, join(root, file)], options);
}

function runNode(args: readonly string[], { cwd = root, env = {}, timeoutMs = 20_000 }: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += String(chunk)));
    child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.at(-1)} did not finish within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running child (a server) and its output so far. */
interface Running {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Starts `node args` and resolves once its stdout matches `ready`, with the first group. */
function startNode(args: readonly string[], ready: RegExp, env: Record<string, string> = {}): Promise<{ running: Running; match: string }> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.at(-1)} printed no ${String(ready)}: ${output}`)), 20_000);
    const look = (chunk: Buffer): void => {
      output += String(chunk);
      const match = ready.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      resolve({ running: { child, output: () => output, exited }, match: match[1] ?? match[0] });
    };
    child.stdout.on('data', look);
    child.stderr.on('data', (chunk: Buffer) => (output += String(chunk)));
    void exited.then((code) => reject(new Error(`${args.at(-1)} exited (${code}) before ${String(ready)}: ${output}`)));
  });
}

/** The HTTP base of the msghub-server main job on free ports, with dev tokens. */
async function startMainJob(...flags: string[]): Promise<{ running: Running; base: string }> {
  const started = await startNode(
    [msghubServer, '--ws-port', '0', '--tcp-port', '0', '--no-log', '--dev-tokens', ...flags],
    /dev tokens at POST (http:\/\/[\d.:]+)\/dev\/token/,
  );
  return { running: started.running, base: started.match };
}

async function devToken(base: string, user: string): Promise<string> {
  const response = await fetch(`${base}/dev/token`, { method: 'POST', body: JSON.stringify({ user }) });
  return ((await response.json()) as { token: string }).token;
}

interface ExampleRun {
  readonly title: string;
  /** The example files this run executes. */
  readonly files: readonly string[];
  readonly run: () => Promise<void>;
}

let dir = '';

/** Every example, how it is run and what it must do. */
const runs: ExampleRun[] = [
  {
    title: 'a room in code: events in order, a whisper, presence, a resumed session, close',
    files: ['examples/quickstart/room.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/quickstart/room.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout.split('\n')).to.deep.equal([
        'laptop 1 join',
        'laptop 2 message',
        'laptop 3 message',
        "[ { userId: 'ada', sessions: 1 } ]",
        'phone message',
        'laptop 4 add',
        'phone add',
        'laptop 5 close',
        'phone close',
        "Map(4) { 'join' => 1, 'message' => 2, 'add' => 1, 'close' => 1 }",
        '',
      ]);
    },
  },
  {
    title: 'a room logged to a file goes on from its last id after a restart, and msghub-log reads it back',
    files: ['examples/quickstart/datalog.ts'],
    async run() {
      const first = await runExample('examples/quickstart/datalog.ts', { cwd: dir });
      expect(first.stderr).to.equal('');
      expect(first.stdout).to.equal('published as event 1\n');
      const second = await runExample('examples/quickstart/datalog.ts', { cwd: dir });
      expect(second.stdout).to.equal('published as event 3\n');
      // README: npx msghub-log cat events.log --room lobby --since 2
      const cat = await runNode([msghubLog, 'cat', 'events.log', '--room', 'lobby', '--since', '2'], { cwd: dir });
      expect(cat.code).to.equal(0);
      const events = cat.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: number; type: string; message?: string });
      expect(events.map(({ id, type, message }) => ({ id, type, message }))).to.deep.equal([
        { id: 3, type: 'message', message: 'hello' },
        { id: 4, type: 'close', message: undefined },
      ]);
    },
  },
  {
    title: 'the quick-start client publishes through the quick-start server, gets its token from /dev/token and exits; SIGINT stops the server',
    files: ['examples/quickstart/server.ts', 'examples/quickstart/client.ts'],
    async run() {
      const { running: server, match } = await startNode(
        ['--import', tsx, join(root, 'examples/quickstart/server.ts')],
        /listening on ws:\/\/127\.0\.0\.1:(\d+)/,
        { MSGHUB_WS_PORT: '0', MSGHUB_TCP_PORT: '0' },
      );
      const client = await runExample('examples/quickstart/client.ts', { env: { MSGHUB_HTTP: `http://127.0.0.1:${match}` } });
      expect(client.stderr).to.equal('');
      expect(client.code).to.equal(0);
      expect(client.stdout).to.equal('queued\njoin\nada: hello from ada\n');
      server.child.kill('SIGINT');
      expect(await server.exited).to.equal(0);
    },
  },
  {
    title: 'the quick-start client also works against the main job started with --dev-tokens --require-token',
    files: ['examples/quickstart/client.ts'],
    async run() {
      const { running: server, base } = await startMainJob('--require-token');
      const client = await runExample('examples/quickstart/client.ts', { env: { MSGHUB_HTTP: base } });
      expect(client.stderr).to.equal('');
      expect(client.stdout).to.equal('queued\njoin\nada: hello from ada\n');
      expect(client.code).to.equal(0);
      server.child.kill('SIGINT');
      expect(await server.exited).to.equal(0);
    },
  },
  {
    title: 'messagehub.md: a room emits join, message, close',
    files: ['examples/messagehub/lobby.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/messagehub/lobby.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal('1 join\n2 message\n3 close\n');
    },
  },
  {
    title: 'messagehub.md: a room with presenceEvents none streams messages only and still answers presence',
    files: ['examples/messagehub/presence-events.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/messagehub/presence-events.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal("1 message\n[ { userId: 'ada', sessions: 1 }, { userId: 'bob', sessions: 1 } ]\n2 close\n");
    },
  },
  {
    title: 'transport.md: a room created with presenceEvents none: no join or leave reaches a member, ids stay contiguous, presence lists everyone, a bad value is INVALID_OPTION',
    files: ['examples/transport/presence-events.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/transport/presence-events.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal(
        'bad value: INVALID_OPTION\nin the stadium: 3\npublished as 1\npublished as 2\nin the stadium: 2\nada saw: 1 message, 2 message\n',
      );
    },
  },
  {
    title: 'messagehub.md: a room closed and opened again on one store goes on at its next id in the same epoch',
    files: ['examples/messagehub/store.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/messagehub/store.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      // publish 1, close 2; then publish 3 in the same epoch.
      expect(stdout).to.equal('published as 1\nsame epoch: true next id: 3\n');
    },
  },
  {
    title: 'transport.md: a server with a file offline queue starts and shuts down in order',
    files: ['examples/transport/offline-queue.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/transport/offline-queue.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal('closed\n');
    },
  },
  {
    title: 'transport.md: a stream cancelled and finalized, a server request from a handler, notifications both ways, a draining close',
    files: ['examples/transport/calls.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/transport/calls.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal(
        "[ 10, 9, 8 ]\ncountdown finalized\ncursor of [ 'ada', { x: 3, y: 4 } ]\nnews: the server calls you\nhello Ada Lovelace\n",
      );
    },
  },
  {
    title: 'transport.md: a bound token is refused another room, a unique room a second tab, a room its second create; sendTo reaches one tab',
    files: ['examples/transport/rooms.ts'],
    async run() {
      const { code, stdout, stderr } = await runExample('examples/transport/rooms.ts');
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal('create again: ROOM_EXISTS\njoin admin: FORBIDDEN\nsecond tab: USER_IN_ROOM\nsecond tab got: only this tab\n');
    },
  },
  {
    title: 'cluster.md: two nodes on one Redis serve one room; a message crosses from one to the other',
    files: ['examples/cluster/nodes.ts'],
    async run() {
      const redis = await RedisServer.start();
      try {
        const { code, stdout, stderr } = await runExample('examples/cluster/nodes.ts', { env: { MSGHUB_REDIS: redis.url } });
        expect(stderr).to.equal('');
        expect(code).to.equal(0);
        expect(stdout).to.equal('node A saw 1 join ada\nnode A saw 2 message bob: hello from B\nnode B published it as 2\nnode A saw 3 close\n');
      } finally {
        await redis.stop();
      }
    },
  },
  {
    title: 'datalog.md: the log replays into a restarted room and reads back what this run added',
    files: ['examples/datalog/log.ts'],
    async run() {
      const first = await runExample('examples/datalog/log.ts', { cwd: dir });
      expect(first.stderr).to.equal('');
      expect(first.stdout).to.equal('1 message\n2 close\n');
      const second = await runExample('examples/datalog/log.ts', { cwd: dir });
      expect(second.stdout).to.equal('3 message\n4 close\n');
      expect(second.code).to.equal(0);
    },
  },
  {
    title: 'datalog.md: the logging listener with replay goes on at the next id and reads back what this run added',
    files: ['examples/datalog/listener.ts'],
    async run() {
      const first = await runExample('examples/datalog/listener.ts', { cwd: dir });
      expect(first.stderr).to.equal('');
      expect(first.stdout).to.equal('1 message\n2 close\n');
      const second = await runExample('examples/datalog/listener.ts', { cwd: dir });
      expect(second.stdout).to.equal('3 message\n4 close\n');
      expect(second.code).to.equal(0);
    },
  },
  {
    title: 'transport.md: the server answers the time RPC and exits 0 on SIGTERM',
    files: ['examples/transport/server.ts'],
    async run() {
      const { running: server, match } = await startNode(
        ['--import', tsx, join(root, 'examples/transport/server.ts')],
        /^(ws:\/\/\S+) tcp:/m,
        { MSGHUB_WS_PORT: '0', MSGHUB_TCP_PORT: '0' },
      );
      const client = createClient({ url: match, user: 'ada', reconnect: false });
      const before = Date.now();
      const time = await client.request('time');
      await client.close();
      expect(time).to.be.a('number').within(before - 1000, Date.now() + 1000);
      server.child.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
    },
  },
  {
    title: 'client.md, Node: resumes from the position kept in a file, publishes with an ack, whispers, asks for presence, closes',
    files: ['examples/client/node.ts'],
    async run() {
      const { running: server, base } = await startMainJob('--require-token');
      const url = base.replace('http:', 'ws:');
      const first = await runExample('examples/client/node.ts', { cwd: dir, env: { MSGHUB_URL: url, MSGHUB_TOKEN: await devToken(base, 'ada') } });
      expect(first.stderr).to.equal('');
      expect(first.code).to.equal(0);
      expect(first.stdout).to.equal("since 0\npublished as 2\npresence [ { userId: 'ada', sessions: 1 } ]\n");
      // join (1), hello (2), then the whisper (3): a whisper reaches its sender's sessions too.
      const position = JSON.parse(readFileSync(join(dir, 'position.json'), 'utf8')) as { since: number; epoch: string };
      expect(position.since).to.equal(3);
      expect(position.epoch).to.match(/^[A-Za-z0-9_-]{16,}$/);
      // The second run resumes after event 3 in the same epoch: it is replayed the first run's leave
      // (4), then its own join (5), hello (6) and whisper (7).
      const second = await runExample('examples/client/node.ts', { cwd: dir, env: { MSGHUB_URL: url, MSGHUB_TOKEN: await devToken(base, 'ada') } });
      expect(second.stdout).to.equal("since 3\npublished as 6\npresence [ { userId: 'ada', sessions: 1 } ]\n");
      expect(JSON.parse(readFileSync(join(dir, 'position.json'), 'utf8'))).to.deep.equal({ since: 7, epoch: position.epoch });
      server.child.kill('SIGINT');
      expect(await server.exited).to.equal(0);
    },
  },
  {
    title: 'client.md, Carriers: falls back to the HTTP carrier where the server refuses WebSocket, and publishes over it',
    files: ['examples/client/carrier.ts'],
    async run() {
      const { running: server, base } = await startMainJob('--no-websocket');
      const { code, stdout, stderr } = await runExample('examples/client/carrier.ts', { env: { MSGHUB_URL: base.replace('http:', 'ws:') } });
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      // ada's join is the room's first event, the message its second.
      expect(stdout).to.equal('carrier undefined\ncarrier http\npublished as 2 over http\n');
      server.child.kill('SIGINT');
      expect(await server.exited).to.equal(0);
    },
  },
  {
    title: 'transport.md: a backend publishes, reads the history and sends a direct message through the main job\u2019s HTTP API',
    files: ['examples/transport/backend.ts'],
    async run() {
      const apiKey = 'backend-example-key-0123';
      const { running: server, match: base } = await startNode(
        [msghubServer, '--ws-port', '0', '--tcp-port', '0', '--no-log', '--api-key-env', 'BACKEND_KEY'],
        /HTTP API at (http:\/\/[\d.:]+)\/rooms/,
        { BACKEND_KEY: apiKey },
      );
      const { code, stdout, stderr } = await runExample('examples/transport/backend.ts', { env: { MSGHUB_HTTP: base, MSGHUB_API_KEY: apiKey } });
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
      expect(stdout).to.equal("published as 1\n[ { text: 'deploy finished' } ]\nsent\n");
      // Without the key the same script is refused.
      const refused = await runExample('examples/transport/backend.ts', { env: { MSGHUB_HTTP: base, MSGHUB_API_KEY: 'wrong-key-0123456789' } });
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.include('401 AUTH_FAILED');
      server.child.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
    },
  },
  {
    title: 'operations.md: /metrics answers its bearer token only, /admin its token only; without an admin token it does not start',
    files: ['examples/operations/server.ts'],
    async run() {
      const metricsToken = 'metrics-example-token-0123';
      const adminToken = 'admin-example-token-0123456';
      const { running: server, match } = await startNode(
        ['--import', tsx, join(root, 'examples/operations/server.ts')],
        /metrics at (http:\/\/127\.0\.0\.1:\d+)\/metrics/,
        { MSGHUB_WS_PORT: '0', MSGHUB_METRICS_TOKEN: metricsToken, MSGHUB_ADMIN_TOKEN: adminToken },
      );
      expect((await fetch(`${match}/metrics`)).status).to.equal(401);
      const scrape = await fetch(`${match}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      expect(scrape.status).to.equal(200);
      expect(await scrape.text()).to.match(/^msghub_rooms 0$/m);
      expect((await fetch(`${match}/admin/api/state`)).status).to.equal(401);
      expect((await fetch(`${match}/admin/api/state`, { headers: { authorization: `Bearer ${adminToken}` } })).status).to.equal(200);
      server.child.kill('SIGTERM');
      expect(await server.exited).to.equal(0);
      // Without an admin token the example refuses to start.
      const refused = await runExample('examples/operations/server.ts', { env: { MSGHUB_WS_PORT: '0', MSGHUB_ADMIN_TOKEN: '' } });
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(/TypeError: Expected `admin.token` to be a string of at least 16 characters/);
    },
  },
];

/** Examples run by another test file (they need that package's dev dependencies). */
const runElsewhere: Readonly<Record<string, string>> = {
  'examples/browser/server.ts': 'packages/client/test/browser-example.test.ts',
  'examples/browser/index.html': 'packages/client/test/browser-example.test.ts',
};

describe('examples in README.md and docs/', () => {
  it('finds the marked examples (the parser sees the docs)', () => {
    expect(examples.map((block) => block.example)).to.include.members([
      'examples/quickstart/room.ts',
      'examples/quickstart/datalog.ts',
      'examples/quickstart/server.ts',
      'examples/quickstart/client.ts',
    ]);
  });

  for (const block of examples) {
    it(`${block.where} shows ${block.example} byte for byte`, () => {
      const file = join(root, block.example as string);
      expect(existsSync(file), `${block.example} is missing`).to.equal(true);
      expect(block.text).to.equal(readFileSync(file, 'utf8'));
    });
  }

  for (const block of blocks.filter((b) => b.excerpt !== undefined)) {
    it(`${block.where} quotes ${block.excerpt} as it is (indentation aside)`, () => {
      const file = readFileSync(join(root, block.excerpt as string), 'utf8').split('\n').map((line) => line.trim());
      const quoted = block.text.trimEnd().split('\n').map((line) => line.trim());
      const at = file.findIndex((_, i) => quoted.every((line, j) => file[i + j] === line));
      expect(at, `${block.where} is no longer in ${block.excerpt}:\n${block.text}`).to.not.equal(-1);
    });
  }

  it('marks every whole program in the docs as an example', () => {
    const programs = blocks.filter((block) => /^(ts|js|html)$/.test(block.lang) && /^\s*import\s/m.test(block.text));
    expect(programs.filter((block) => block.example === undefined).map((block) => block.where)).to.deep.equal([]);
  });

  it('runs every example the docs show', () => {
    const ran = new Set(runs.flatMap((run) => run.files));
    const notRun = examples.map((block) => block.example as string).filter((file) => !ran.has(file) && runElsewhere[file] === undefined);
    expect(notRun).to.deep.equal([]);
    for (const [file, test] of Object.entries(runElsewhere)) {
      expect(readFileSync(join(root, test), 'utf8'), `${test} runs ${file}`).to.include(file);
    }
  });

  describe('run as written', () => {
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'msghub-example-'));
    });
    afterEach(() => {
      for (const child of running) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    for (const { title, files, run } of runs) {
      it(`${files.join(' + ')}: ${title}`, async function () {
        this.timeout(60_000);
        await run();
      });
    }
  });
});
