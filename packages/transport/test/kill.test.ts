/**
 * Kill tests: the real main job in a child process with its file store, real Node clients, and
 * SIGKILL (or SIGINT) at random moments while a publisher awaits its acks. What a client has seen
 * or a publisher was told is never taken back: every acknowledged message reaches every subscriber
 * exactly once, ids only grow within an epoch, no id is given to two events, and any loss is an
 * explicit gap (with `fsync: 'batch'`, there must be none).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, type MsghubClient, type RoomItem } from '@msghub/client/node';
import WebSocket from 'ws';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const ROOM = 'kill';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One run of the main job; resolves once it listens. */
async function startJob(ports: { ws: number; tcp: number }, log: string, fsync: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [cli, '--ws-port', String(ports.ws), '--tcp-port', String(ports.tcp), '--log', log, '--fsync', fsync],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += String(chunk)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`main job did not start: ${out} ${err}`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += String(chunk);
      if (out.includes('WebSocket')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`main job exited with ${code}: ${err}`));
    });
  });
  return child;
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** What one subscriber saw, checked as it arrives. */
class Follower {
  readonly client: MsghubClient;
  /** message payload n -> event id */
  readonly seen = new Map<number, number>();
  readonly ids = new Map<number, number>();
  readonly gaps: RoomItem[] = [];
  readonly faults: string[] = [];
  lastId = 0;
  ended = false;

  constructor(url: string, user: string) {
    this.client = createClient({ url, user, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    this.client.join(ROOM).subscribe({
      next: (item) => this.#next(item),
      error: (error: unknown) => this.faults.push(`stream error ${String(error)}`),
      complete: () => {
        this.ended = true;
      },
    });
  }

  #next(item: RoomItem): void {
    if (item.type === 'gap') {
      this.gaps.push(item);
      return;
    }
    if (item.id <= this.lastId) this.faults.push(`id ${item.id} after ${this.lastId}`);
    this.lastId = item.id;
    if (item.type !== 'message') return;
    const n = (item.message as { n: number }).n;
    if (this.seen.has(n)) this.faults.push(`message ${n} twice (ids ${this.seen.get(n)} and ${item.id})`);
    this.seen.set(n, item.id);
    this.ids.set(item.id, n);
  }
}

/** Publishes 0..total-1 with a window of unacknowledged publishes; reconnects after a kill. */
class Publisher {
  readonly acked = new Map<number, number>();
  /** Error frames other than RATE_LIMITED: there must be none. */
  readonly errors: Record<string, unknown>[] = [];
  #socket: WebSocket | undefined;
  #inFlight = new Map<number, number>(); // ref -> n
  #next = 0;
  /** Publishes the server refused with RATE_LIMITED: known not to be published, so sent again. */
  #retry: number[] = [];
  #held = false;
  #ready = false;
  #done!: () => void;
  readonly finished: Promise<void>;
  readonly #url: string;
  readonly #total: number;
  readonly #window: number;
  onAck: (count: number) => void = () => undefined;

  constructor(url: string, total: number, window = 32) {
    this.#url = url;
    this.#total = total;
    this.#window = window;
    this.finished = new Promise((resolve) => {
      this.#done = resolve;
    });
    this.#connect();
  }

  #connect(): void {
    const socket = new WebSocket(this.#url);
    this.#socket = socket;
    this.#ready = false;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'hello', v: 1, user: 'publisher' })));
    socket.on('message', (data: Buffer) => this.#frame(JSON.parse(String(data)) as Record<string, unknown>));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      // Unacknowledged publishes of a dropped connection have an unknown outcome: never resent.
      this.#inFlight.clear();
      if (this.#next < this.#total || this.#retry.length > 0) setTimeout(() => this.#connect(), 20);
    });
  }

  #frame(frame: Record<string, unknown>): void {
    if (frame['type'] === 'welcome') {
      this.#socket?.send(JSON.stringify({ type: 'join', ref: 'join', room: ROOM }));
    } else if (frame['type'] === 'ok' && frame['ref'] === 'join') {
      this.#ready = true;
      this.#pump();
    } else if (frame['type'] === 'error' && frame['code'] === 'RATE_LIMITED' && typeof frame['ref'] === 'number') {
      const n = this.#inFlight.get(frame['ref']);
      if (n === undefined) return;
      this.#inFlight.delete(frame['ref']);
      this.#retry.push(n);
      if (!this.#held) {
        this.#held = true;
        setTimeout(() => {
          this.#held = false;
          this.#pump();
        }, 100);
      }
    } else if (frame['type'] === 'error') {
      this.errors.push(frame);
    } else if (frame['type'] === 'ok' && typeof frame['ref'] === 'number') {
      const n = this.#inFlight.get(frame['ref']);
      if (n === undefined) return;
      this.#inFlight.delete(frame['ref']);
      this.acked.set(n, frame['id'] as number);
      this.onAck(this.acked.size);
      this.#pump();
    }
  }

  #pump(): void {
    const socket = this.#socket;
    const more = (): boolean => this.#retry.length > 0 || this.#next < this.#total;
    while (!this.#held && this.#ready && socket?.readyState === WebSocket.OPEN && this.#inFlight.size < this.#window && more()) {
      const n = this.#retry.shift() ?? this.#next++;
      this.#inFlight.set(n, n);
      socket.send(JSON.stringify({ type: 'publish', ref: n, room: ROOM, data: { n } }));
    }
    if (!more() && this.#inFlight.size === 0) {
      this.#done();
      socket?.close();
    }
  }
}

async function until(check: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function killLoop(options: { total: number; kills: number; signal: NodeJS.Signals; fsync: string }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'msghub-kill-'));
  const log = join(dir, 'events.log');
  const ports = { ws: await freePort(), tcp: await freePort() };
  const url = `ws://127.0.0.1:${ports.ws}`;
  let child = await startJob(ports, log, options.fsync);
  const followers = [0, 1, 2].map((i) => new Follower(url, `follower-${i}`));
  const publisher = new Publisher(url, options.total);
  // Kill points: random numbers of acknowledged publishes, spread over the run.
  const points = Array.from({ length: options.kills }, () => Math.floor(Math.random() * options.total * 0.95)).sort((a, b) => a - b);
  let restarting: Promise<void> | undefined;
  let restarts = 0;
  publisher.onAck = (count) => {
    if (restarting !== undefined || points.length === 0 || count < (points[0] as number)) return;
    points.shift();
    restarting = (async () => {
      await stop(child, options.signal);
      child = await startJob(ports, log, options.fsync);
      restarts++;
      restarting = undefined;
    })();
  };
  try {
    await publisher.finished;
    if (restarting !== undefined) await restarting;
    const acked = [...publisher.acked];
    const lastAcked = Math.max(...publisher.acked.values());
    await until(
      () => followers.every((f) => f.lastId >= lastAcked && acked.every(([n]) => f.seen.has(n))),
      30_000,
      () =>
        followers
          .map((f) => `${f.lastId}/${lastAcked}, ${acked.filter(([n]) => !f.seen.has(n)).length} missing, gaps ${JSON.stringify(f.gaps)}, faults ${f.faults.join(', ')}`)
          .join('; '),
    );
    expect(restarts).to.be.at.least(options.kills - 2);
    expect(publisher.acked.size).to.be.greaterThan(options.total * 0.9);
    expect(publisher.errors).to.deep.equal([]);
    for (const follower of followers) {
      expect(follower.faults).to.deep.equal([]);
      expect(follower.gaps).to.deep.equal([]);
      expect(follower.ended).to.equal(false);
      // Every acknowledged message, exactly once, under the id its publisher was told.
      for (const [n, id] of acked) expect(follower.seen.get(n), `message ${n}`).to.equal(id);
    }
    // No id was ever given to two events: every follower saw the same message under every id.
    const [first, ...rest] = followers;
    for (const other of rest) {
      for (const [id, n] of other.ids) {
        const mine = first?.ids.get(id);
        if (mine !== undefined) expect(mine, `id ${id}`).to.equal(n);
      }
    }
  } finally {
    for (const follower of followers) follower.client.close();
    await stop(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('main job under kill -9', function () {
  this.timeout(240_000);

  it('SIGKILL at 20 random moments during 20,000 acknowledged publishes (fsync batch): nothing acknowledged or seen is lost, repeated or renumbered', async () => {
    await killLoop({ total: 20_000, kills: 20, signal: 'SIGKILL', fsync: 'batch' });
  });

  it('SIGKILL during publishes with fsync never (a process crash): the same, with no gap', async () => {
    await killLoop({ total: 5_000, kills: 5, signal: 'SIGKILL', fsync: 'never' });
  });

  it('SIGINT restarts: graceful, zero gaps', async () => {
    await killLoop({ total: 5_000, kills: 5, signal: 'SIGINT', fsync: 'batch' });
  });
});
