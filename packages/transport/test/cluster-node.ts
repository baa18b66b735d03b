/** Cluster nodes for tests: `msghub-server --redis` main jobs in child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { TestClient } from './helpers.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One `msghub-server --redis <url>` child process. */
export class ClusterNode {
  readonly child: ChildProcess;
  readonly wsUrl: string;
  readonly tcpPort: number;
  readonly exited: Promise<number | null>;
  /** What the process wrote to stderr (bounded). */
  stderr = '';

  private constructor(child: ChildProcess, wsUrl: string, tcpPort: number, exited: Promise<number | null>) {
    this.child = child;
    this.wsUrl = wsUrl;
    this.tcpPort = tcpPort;
    this.exited = exited;
  }

  /** Starts a node on free ports and waits until it listens. */
  static async start(redisUrl: string, extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ClusterNode> {
    const child = spawn(process.execPath, [cli, '--redis', redisUrl, '--ws-port', '0', '--tcp-port', '0', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    running.add(child);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
    let out = '';
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (err.length < 65536) err += chunk;
    });
    const [wsUrl, tcpPort] = await new Promise<[string, number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start: ${out} ${err}`)), 15_000);
      void exited.then((code) => reject(new Error(`node exited with ${code}: ${out} ${err}`)));
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const ws = /WebSocket (ws:\/\/\S+)/.exec(out);
        const tcp = /TCP \S+:(\d+)/.exec(out);
        if (ws !== null && tcp !== null && out.includes('cluster node')) {
          clearTimeout(timer);
          resolve([ws[1] as string, Number(tcp[1])]);
        }
      });
    });
    const node = new ClusterNode(child, wsUrl, tcpPort, exited);
    child.stderr?.on('data', (chunk: string) => {
      if (node.stderr.length < 65536) node.stderr += chunk;
    });
    node.stderr = err;
    return node;
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** Event fields the cluster tests look at. */
export interface SeenEvent {
  readonly id: number;
  readonly type: string;
  readonly userId?: string;
  readonly sessionId?: string;
  readonly message?: unknown;
}

/**
 * A room member that, like a real client, reconnects to another live node when its connection
 * breaks and resumes with (epoch, since). It never resends a publish whose `ok` it did not get.
 */
export class ResumingMember {
  readonly user: string;
  readonly room: string;
  /** Every event received, in order, over every connection. */
  readonly events: SeenEvent[] = [];
  readonly gaps: Record<string, unknown>[] = [];
  /** Message text → the id its publish was acknowledged with. */
  readonly acked = new Map<string, number>();
  /** The node it is connected to, while it is. */
  node: ClusterNode | undefined;
  /** The connection (session) ids this member had, in order. */
  readonly sessions: string[] = [];
  reconnects = 0;
  /** Publishes whose connection broke before their answer. */
  unknown = 0;
  /** Codes of the errors that answered publishes, and how often. */
  readonly refused = new Map<string, number>();
  #client: TestClient | undefined;
  #epoch: string | undefined;
  #stopped = false;
  #ref = 0;
  readonly #inflight = new Map<number, { text: string; settle: () => void }>();
  readonly #alive: () => readonly ClusterNode[];
  #connected: Promise<void> = Promise.resolve();

  constructor(user: string, room: string, alive: () => readonly ClusterNode[]) {
    this.user = user;
    this.room = room;
    this.#alive = alive;
  }

  /** Connects (to a random live node) and joins. */
  start(): Promise<void> {
    this.#connected = this.#connect();
    return this.#connected;
  }

  /** Publishes `text` and resolves when acknowledged or when its connection broke (unknown outcome). */
  async publish(text: string): Promise<void> {
    let client = this.#client;
    // While reconnecting it waits, as a client's send buffer would, rather than skip the message.
    while ((client === undefined || client.isClosed) && !this.#stopped) {
      await this.#connected;
      client = this.#client;
      if (client === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (client === undefined) return;
    const ref = ++this.#ref;
    await new Promise<void>((settle) => {
      this.#inflight.set(ref, { text, settle });
      client.send({ type: 'publish', ref, room: this.room, data: text });
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#client?.close();
  }

  get lastId(): number {
    return this.events.at(-1)?.id ?? 0;
  }

  async #connect(): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      const nodes = this.#alive();
      const node = nodes[Math.floor(Math.random() * nodes.length)];
      if (node !== undefined) {
        try {
          await this.#join(node);
          return;
        } catch {
          // That node is going away: another one.
        }
      }
      if (attempt > 200) throw new Error(`${this.user} could not reconnect`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async #join(node: ClusterNode): Promise<void> {
    const client = await TestClient.tcp(node.tcpPort);
    try {
      const welcome = await client.hello({ user: this.user });
      const since = this.events.length === 0 ? {} : { since: this.lastId, epoch: this.#epoch };
      client.send({ type: 'join', ref: 'join', room: this.room, ...since });
      // Frames are handled as they arrive: events may come right after the ok.
      const ok = await client.waitFor((f) => (f.type === 'ok' || f.type === 'error') && f['ref'] === 'join', 5000);
      if (ok.type === 'error') throw new Error(`join refused: ${JSON.stringify(ok)}`);
      this.#epoch = ok['epoch'] as string;
      this.sessions.push(welcome['connectionId'] as string);
    } catch (error) {
      client.close();
      throw error;
    }
    this.#client = client;
    this.node = node;
    const read = (): void => {
      for (const frame of client.frames.splice(0)) this.#onFrame(frame);
    };
    const original = client.push.bind(client);
    client.push = (frame) => {
      original(frame);
      read();
    };
    read();
    void client.closed.then(() => this.#onClosed(client));
  }

  #onFrame(frame: Record<string, unknown>): void {
    if (frame['type'] === 'event') {
      const event = frame['event'] as SeenEvent;
      if (event.id <= this.lastId) throw new Error(`${this.user}: event ${event.id} again after ${this.lastId}`);
      this.events.push(event);
    } else if (frame['type'] === 'gap') this.gaps.push(frame);
    else if ((frame['type'] === 'ok' || frame['type'] === 'error') && typeof frame['ref'] === 'number') {
      const inflight = this.#inflight.get(frame['ref']);
      if (inflight === undefined) return;
      this.#inflight.delete(frame['ref']);
      if (frame['type'] === 'ok') this.acked.set(inflight.text, frame['id'] as number);
      else this.refused.set(String(frame['code']), (this.refused.get(String(frame['code'])) ?? 0) + 1);
      inflight.settle();
    }
  }

  #onClosed(client: TestClient): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.node = undefined;
    // What was in flight on the broken connection has an unknown outcome: not acknowledged.
    for (const inflight of this.#inflight.values()) inflight.settle();
    this.unknown += this.#inflight.size;
    this.#inflight.clear();
    if (this.#stopped) return;
    this.reconnects++;
    this.#connected = this.#connect();
  }
}
