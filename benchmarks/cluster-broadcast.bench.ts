/**
 * Broadcast in one room across a two-node cluster on one private redis-server: msghub (two
 * HubServers on a RedisStore) against Socket.IO 4 with @socket.io/redis-streams-adapter, with the
 * same client harness. Clients are split over the two nodes (one client process per node); the
 * broadcasts start on node A. Measured: deliveries/s (every client must receive every broadcast;
 * what does not arrive within the wait is counted as lost and shown), and p50/p99 broadcast→
 * delivery latency at 100 msg/s on each node. Results go to stdout and
 * benchmarks/results/cluster-broadcast.json.
 *
 *   node --import tsx benchmarks/cluster-broadcast.bench.ts [--quick] [--rounds N] [--clients N]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisServer } from '../packages/cluster/test/redis-server.js';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, writeResults } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const { quick, rounds: roundsOption } = cliOptions();
const rounds = roundsOption ?? (quick ? 1 : 3);
const SYSTEMS = ['socketio', 'msghub'] as const;
type SystemName = (typeof SYSTEMS)[number];
const LABEL: Record<SystemName, string> = { socketio: 'Socket.IO 4 + redis-streams-adapter', msghub: 'msghub (RedisStore)' };
const clientsAt = process.argv.indexOf('--clients');
const CLIENTS = clientsAt >= 0 ? Number(process.argv[clientsAt + 1]) : 1000;
const DELIVERIES = quick ? 100_000 : 400_000;
const PACED_SECONDS = quick ? 1 : 3;
/** How long the clients may take to receive a round's broadcasts before the rest counts as lost. */
const WAIT_MS = 30_000;

/** A child process spoken to over IPC, with every wait bounded. */
class Peer {
  readonly #child: ChildProcess;
  readonly #inbox: Record<string, unknown>[] = [];
  #wake: (() => void) | undefined;
  #exited = false;

  constructor(script: string, args: string[]) {
    this.#child = fork(join(here, script), args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

  /** The next message that has `key`, within `timeoutMs`; undefined past it. */
  async next(key: string, timeoutMs = 60_000): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.#inbox.findIndex((message) => key in message);
      if (at >= 0) return this.#inbox.splice(at, 1)[0] as Record<string, unknown>;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      if (this.#exited) throw new Error(`A child exited before sending ${key}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async must(key: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    const message = await this.next(key, timeoutMs);
    if (message === undefined) throw new Error(`No ${key} from a child`);
    return message;
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

interface Result {
  system: SystemName;
  rates: number[];
  rate: number;
  /** Deliveries that did not arrive, over every round. */
  lost: number;
  expected: number;
  sameNode: { p50: number; p99: number };
  otherNode: { p50: number; p99: number };
}

/** Waits for every client process to report `done`; what has not arrived by the deadline is lost. */
async function collect(loads: readonly Peer[], expected: readonly number[]): Promise<number> {
  let received = 0;
  const deadline = Date.now() + WAIT_MS;
  for (const [i, load] of loads.entries()) {
    const done = await load.next('done', Math.max(1, deadline - Date.now()));
    if (done !== undefined) {
      received += expected[i] as number;
      continue;
    }
    load.send({ cmd: 'progress' });
    received += Number((await load.must('received', 5000))['received']);
  }
  return received;
}

async function measure(system: SystemName, redis: RedisServer): Promise<Result> {
  await redis.restart(); // every system starts on an empty Redis
  const servers = [new Peer('transport-server.ts', [system, redis.url]), new Peer('transport-server.ts', [system, redis.url])];
  const loads: Peer[] = [];
  try {
    const ports = await Promise.all(servers.map(async (server) => Number((await server.must('port'))['port'])));
    const half = Math.floor(CLIENTS / 2);
    const counts = [half, CLIENTS - half];
    for (const [i, port] of ports.entries()) {
      loads.push(new Peer('transport-clients.ts', [system, `ws://127.0.0.1:${port}/`, String(counts[i]), `n${i}`]));
    }
    await Promise.all(loads.map((load) => load.must('ready')));
    if (system === 'msghub') {
      for (const load of loads) load.send({ cmd: 'join' });
      await Promise.all(loads.map((load) => load.must('joined')));
    }
    const publisher = servers[0] as Peer;
    const messages = Math.max(1, Math.round(DELIVERIES / CLIENTS));
    const rates: number[] = [];
    let lost = 0;
    let expected = 0;
    for (let round = 0; round < rounds; round++) {
      progress(`${LABEL[system]}: throughput round ${round + 1}/${rounds}`);
      loads.forEach((load, i) => load.send({ cmd: 'expect', total: messages * (counts[i] as number) }));
      await Promise.all(loads.map((load) => load.must('armed')));
      const start = performance.now();
      publisher.send({ cmd: 'blast', count: messages });
      const received = await collect(loads, counts.map((count) => count * messages));
      const seconds = (performance.now() - start) / 1000;
      await publisher.must('done');
      const total = messages * CLIENTS;
      expected += total;
      lost += total - Math.min(total, received);
      rates.push(Math.min(total, received) / seconds);
    }
    progress(`${LABEL[system]}: latency at 100 msg/s`);
    const paced = 100 * PACED_SECONDS;
    loads.forEach((load, i) => load.send({ cmd: 'expect', total: paced * (counts[i] as number), latency: true }));
    await Promise.all(loads.map((load) => load.must('armed')));
    publisher.send({ cmd: 'pace', count: paced, rate: 100 });
    await collect(loads, counts.map((count) => count * paced));
    await publisher.must('done');
    const latency = [];
    for (const load of loads) {
      load.send({ cmd: 'latencies' });
      const { p50, p99 } = (await load.must('p99')) as { p50: number; p99: number };
      latency.push({ p50, p99 });
    }
    return { system, rates, rate: median(rates), lost, expected, sameNode: latency[0] as Result['sameNode'], otherNode: latency[1] as Result['otherNode'] };
  } finally {
    await Promise.all(loads.map((load) => load.stop()));
    await Promise.all(servers.map((server) => server.stop()));
  }
}

async function main(): Promise<void> {
  const redis = await RedisServer.start();
  try {
    const results: Result[] = [];
    for (const system of SYSTEMS) results.push(await measure(system, redis));
    progressDone();
    const io = results.find((r) => r.system === 'socketio') as Result;
    const table = printTable(
      `Broadcast in one room, 2 nodes + 1 Redis, ${CLIENTS} WebSocket clients split over the nodes (median of ${rounds} round${rounds === 1 ? '' : 's'})`,
      ['system', 'deliveries/s', 'vs Socket.IO', 'lost', 'p50 / p99 same node', 'p50 / p99 other node'],
      results.map((r) => [
        LABEL[r.system],
        formatRate(r.rate),
        formatRatio(r.rate / io.rate),
        `${r.lost} of ${r.expected}`,
        `${r.sameNode.p50.toFixed(1)} / ${r.sameNode.p99.toFixed(1)} ms`,
        `${r.otherNode.p50.toFixed(1)} / ${r.otherNode.p99.toFixed(1)} ms`,
      ]),
    );
    const file = writeResults('cluster-broadcast', { quick, rounds, clients: CLIENTS, table, results });
    console.log(`results: ${file}`);
  } finally {
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
