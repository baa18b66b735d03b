/** Cluster nodes for tests: `msghub-server --redis` main jobs in child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
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
