/**
 * Private redis-server instances for tests: each runs on a free port in a temp dir of its own and is
 * stopped by its pid, never the machine's shared instance. A missing redis-server is installed from
 * Debian's packages (scripts/install-redis.sh) the first time one is asked for.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** How the instance persists: no AOF, or AOF with one `appendfsync` policy. */
export type Persistence = 'none' | 'always' | 'everysec' | 'no';

export interface RedisServerOptions {
  /** @default 'none' */
  persistence?: Persistence;
}

let installed = false;

function ensureInstalled(): void {
  if (installed) return;
  if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) {
    const result = spawnSync('bash', [join(root, 'scripts', 'install-redis.sh')], { stdio: 'inherit' });
    if (result.status !== 0) throw new Error('redis-server is missing and scripts/install-redis.sh could not install it');
  }
  installed = true;
}

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

const running = new Set<ChildProcess>();

// A test run that dies or is interrupted must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One private redis-server. */
export class RedisServer {
  readonly dir: string;
  readonly port: number;
  readonly persistence: Persistence;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  private constructor(dir: string, port: number, persistence: Persistence) {
    this.dir = dir;
    this.port = port;
    this.persistence = persistence;
  }

  /** Starts an instance on a free port in a new temp dir. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    ensureInstalled();
    const dir = mkdtempSync(join(tmpdir(), 'msghub-redis-'));
    // A port found free may be taken before the server binds it: try a few.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServer(dir, await freePort(), options.persistence ?? 'none');
      try {
        await server.#spawn();
        return server;
      } catch (error) {
        lastError = error;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The pid of the running process, or undefined when stopped. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Stops the process (SIGTERM, then SIGKILL) and deletes its directory. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Ends the process with `signal` and waits for it to exit; the directory stays (for a restart). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Starts the process again on the same port and directory (what AOF kept is loaded). */
  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.#spawn();
  }

  /** SIGSTOP: the server keeps its connections but answers nothing until {@link resume}. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  async #spawn(): Promise<void> {
    const persistence =
      this.persistence === 'none'
        ? ['--appendonly', 'no']
        : ['--appendonly', 'yes', '--appendfsync', this.persistence, '--appenddirname', 'aof'];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', ...persistence],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    this.#child = child;
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (output.length < 65536) output += chunk;
    });
    child.stderr.resume();
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        running.delete(child);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (this.#child !== child) throw new Error(`redis-server exited on port ${this.port}: ${output.slice(-2000)}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server did not answer on port ${this.port}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Whether a Redis answers PING with PONG on `port`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}
