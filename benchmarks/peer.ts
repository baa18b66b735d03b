/**
 * A benchmark's child process (a server or a client load), spoken to over IPC with every wait
 * bounded, optionally with a raised open-file limit so that it can hold thousands of sockets.
 *
 * Node cannot raise its own RLIMIT_NOFILE, so a child that needs more is started through
 * `sh -c 'ulimit -S -n N && exec node ...'`: the soft limit goes up to N (never past the hard
 * limit, which only root can raise) and the shell is replaced by Node, which keeps the IPC channel.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface PeerOptions {
  /** Run with --expose-gc (servers whose memory is measured). @default false */
  gc?: boolean;
  /** Open files the process needs (sockets included); its soft limit is raised to this. */
  nofile?: number;
  /** Default bound of {@link Peer.next}, in ms. @default 60000 */
  waitMs?: number;
}

/** The hard open-file limit of this process (what children may raise their soft limit to). */
export function hardFileLimit(): number {
  const { stdout, status } = spawnSync('sh', ['-c', 'ulimit -H -n'], { encoding: 'utf8' });
  if (status !== 0) return Number.NaN;
  const text = stdout.trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}

/**
 * Throws a clear error when a child needing `nofile` open files cannot get them here.
 * @param what who needs them, for the message (e.g. "the server with 10000 connections")
 */
export function checkFileLimit(nofile: number, what: string): void {
  const hard = hardFileLimit();
  if (!(hard >= nofile)) {
    throw new Error(
      `${what} needs ${nofile} open files, but the hard limit (ulimit -Hn) is ${Number.isNaN(hard) ? 'unknown' : hard}. ` +
        'Raise it (as root: `ulimit -Hn 65536` in the shell that runs the benchmark, LimitNOFILE= for a systemd unit, ' +
        '`nofile` in /etc/security/limits.conf, or `docker run --ulimit nofile=65536:65536`), or run fewer clients (--clients).',
    );
  }
}

export class Peer {
  readonly #child: ChildProcess;
  readonly #inbox: Record<string, unknown>[] = [];
  readonly #waitMs: number;
  #wake: (() => void) | undefined;
  #exited = false;

  /**
   * @param script a file in benchmarks/ (e.g. "transport-server.ts")
   * @param args its command-line arguments
   */
  constructor(script: string, args: string[], options: PeerOptions = {}) {
    this.#waitMs = options.waitMs ?? 60_000;
    const nodeArgs = [...(options.gc === true ? ['--expose-gc'] : []), '--import', 'tsx'];
    const raise = options.nofile !== undefined;
    if (raise) checkFileLimit(options.nofile as number, script);
    this.#child = fork(join(here, script), args, {
      ...(raise
        ? // sh -c 'script' $0 $@: $0 is node, $@ its flags, then fork appends the module and args.
          { execPath: 'sh', execArgv: ['-c', `ulimit -S -n ${options.nofile} && exec "$0" "$@"`, process.execPath, ...nodeArgs] }
        : { execArgv: nodeArgs }),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (message) => {
      this.#inbox.push(message as Record<string, unknown>);
      this.#wake?.();
    });
    this.#child.on('exit', () => {
      this.#exited = true;
      this.#wake?.();
    });
  }

  send(message: object): void {
    this.#child.send(message);
  }

  /** The next message that has `key`, within `timeoutMs`. @throws when none came in time */
  async next(key: string, timeoutMs = this.#waitMs): Promise<Record<string, unknown>> {
    const message = await this.poll(key, timeoutMs);
    if (message === undefined) throw new Error(`No ${key} from child within ${timeoutMs} ms`);
    return message;
  }

  /**
   * The next message that has `key`, within `timeoutMs`; undefined past it (for a wait whose
   * timeout is a result, such as messages still in flight counted as lost).
   * @throws when the child exited without sending it
   */
  async poll(key: string, timeoutMs = this.#waitMs): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.#inbox.findIndex((message) => key in message);
      if (at >= 0) return this.#inbox.splice(at, 1)[0] as Record<string, unknown>;
      if (this.#exited) throw new Error(`The child exited before sending ${key}`);
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    this.send({ cmd: 'stop' });
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
