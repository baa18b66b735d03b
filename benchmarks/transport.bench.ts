/**
 * WebSocket broadcast over loopback: msghub's HubServer against raw `ws` and Socket.IO 4, measured
 * in the same run, and msghub's HTTP fallback carrier against its WebSocket. For 100 and 1000 clients (all in one child process, the server in another):
 * broadcast deliveries per second, p50/p99 latency at a paced 100 msg/s, server RSS per idle
 * connection, bytes on the wire and server CPU per delivery (the `msghub-deflate` row has
 * permessage-deflate on). Every wait is bounded; the table and ratios go to stdout and
 * benchmarks/results/transport.json.
 *
 *   node --import tsx benchmarks/transport.bench.ts [--quick] [--rounds N] [--clients 100|1000]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, progressPlan, writeResults } from './lib.js';
import { Peer } from './peer.js';

// RSS per connection needs an explicit GC in the server process; re-run under --expose-gc if needed.
if (typeof (globalThis as { gc?: unknown }).gc !== 'function' && process.env['MSGHUB_BENCH_CHILD'] === undefined) {
  const self = fileURLToPath(import.meta.url);
  const { status } = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, MSGHUB_BENCH_CHILD: '1' },
  });
  process.exit(status ?? 1);
}

const { quick, rounds: roundsOption } = cliOptions();
const rounds = roundsOption ?? (quick ? 1 : 3);
const SYSTEMS = ['ws', 'socketio', 'msghub', 'msghub-file', 'msghub-deflate', 'msghub-http'] as const;
type SystemName = (typeof SYSTEMS)[number];
const LABEL: Record<SystemName, string> = {
  ws: 'raw ws',
  socketio: 'Socket.IO 4',
  msghub: 'msghub',
  'msghub-file': 'msghub, FileStore (fsync batch)',
  'msghub-deflate': 'msghub, permessage-deflate',
  'msghub-http': 'msghub, HTTP carrier (SSE + POST)',
};
const clientsAt = process.argv.indexOf('--clients');
const SIZES = clientsAt >= 0 ? [Number(process.argv[clientsAt + 1])] : [100, 1000];
/** Deliveries per throughput round: enough for about a second of work. */
const DELIVERIES = quick ? 100_000 : 400_000;
const PACED_SECONDS = quick ? 1 : 3;
const WAIT_MS = 60_000;

interface Result {
  system: SystemName;
  clients: number;
  rates: number[];
  rate: number;
  p50: number;
  p99: number;
  /** Median over rounds, each in a fresh server process. */
  rssPerConnectionKiB: number;
  heapPerConnectionKiB: number;
  /** Over the throughput rounds: bytes the clients read from the network per delivery. */
  wireBytesPerDelivery: number;
  /** Over the throughput rounds: server process CPU (user + system, every thread) per delivery. */
  serverCpuUsPerDelivery: number;
}

type CpuUsage = { user: number; system: number };

/** Server RSS and heap growth per idle connection (msghub: past welcome), in a fresh server process. */
async function memorySample(system: SystemName, clients: number): Promise<{ rss: number; heap: number }> {
  const server = new Peer('transport-server.ts', [system], { gc: true, waitMs: WAIT_MS });
  let load: Peer | undefined;
  try {
    const base = (await server.next('port')) as { port: number; rss: number; heapUsed: number };
    load = new Peer('transport-clients.ts', [system, `ws://127.0.0.1:${base.port}/`, String(clients)], { waitMs: WAIT_MS });
    await load.next('ready');
    server.send({ cmd: 'rss' });
    const { rss, heapUsed } = (await server.next('rss')) as { rss: number; heapUsed: number };
    return { rss: (rss - base.rss) / clients / 1024, heap: (heapUsed - base.heapUsed) / clients / 1024 };
  } finally {
    await load?.stop();
    await server.stop();
  }
}

async function measure(system: SystemName, clients: number): Promise<Result> {
  const memory: { rss: number; heap: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    progress(`${LABEL[system]} ${clients} clients: memory round ${round + 1}/${rounds}`);
    memory.push(await memorySample(system, clients));
  }
  const rssPerConnectionKiB = median(memory.map((m) => m.rss));
  const heapPerConnectionKiB = median(memory.map((m) => m.heap));
  const server = new Peer('transport-server.ts', [system], { gc: true, waitMs: WAIT_MS });
  let load: Peer | undefined;
  try {
    const { port } = (await server.next('port')) as { port: number };
    load = new Peer('transport-clients.ts', [system, `ws://127.0.0.1:${port}/`, String(clients)], { waitMs: WAIT_MS });
    await load.next('ready');
    if (system.startsWith('msghub')) {
      load.send({ cmd: 'join' });
      await load.next('joined');
    }

    const messages = Math.max(1, Math.round(DELIVERIES / clients));
    const rates: number[] = [];
    server.send({ cmd: 'cpu' });
    const cpuBefore = (await server.next('cpu'))['cpu'] as CpuUsage;
    load.send({ cmd: 'bytes' });
    // NaN (a client whose socket is out of reach) crosses IPC as null: keep it NaN.
    const bytesBefore = ((await load.next('bytes'))['bytes'] as number | null) ?? Number.NaN;
    for (let round = 0; round < rounds; round++) {
      progress(`${LABEL[system]} ${clients} clients: throughput round ${round + 1}/${rounds}`);
      load.send({ cmd: 'expect', total: messages * clients });
      await load.next('armed');
      const start = performance.now();
      server.send({ cmd: 'blast', count: messages });
      await load.next('done');
      rates.push((messages * clients) / ((performance.now() - start) / 1000));
      await server.next('done');
    }
    server.send({ cmd: 'cpu' });
    const cpuAfter = (await server.next('cpu'))['cpu'] as CpuUsage;
    load.send({ cmd: 'bytes' });
    const bytesAfter = ((await load.next('bytes'))['bytes'] as number | null) ?? Number.NaN;
    const deliveries = messages * clients * rounds;
    const wireBytesPerDelivery = (bytesAfter - bytesBefore) / deliveries;
    const serverCpuUsPerDelivery = (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / deliveries;

    progress(`${LABEL[system]} ${clients} clients: latency at 100 msg/s`);
    const paced = 100 * PACED_SECONDS;
    load.send({ cmd: 'expect', total: paced * clients, latency: true });
    await load.next('armed');
    server.send({ cmd: 'pace', count: paced, rate: 100 });
    await load.next('done');
    await server.next('done');
    load.send({ cmd: 'latencies' });
    const { p50, p99 } = (await load.next('p99')) as { p50: number; p99: number };
    return { system, clients, rates, rate: median(rates), p50, p99, rssPerConnectionKiB, heapPerConnectionKiB, wireBytesPerDelivery, serverCpuUsPerDelivery };
  } finally {
    await load?.stop();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];
  // Per system and size: the memory rounds, the throughput rounds and the paced run.
  progressPlan(SIZES.length * SYSTEMS.length * (2 * rounds + 1));
  for (const clients of SIZES) {
    for (const system of SYSTEMS) results.push(await measure(system, clients));
  }
  progressDone();
  const find = (system: SystemName, clients: number): Result => results.find((r) => r.system === system && r.clients === clients) as Result;
  const rows = results.map((r) => {
    const io = find('socketio', r.clients);
    const ws = find('ws', r.clients);
    return [
      `${LABEL[r.system]}, ${r.clients} clients`,
      formatRate(r.rate),
      formatRatio(r.rate / io.rate),
      `${r.p50.toFixed(2)} ms`,
      `${r.p99.toFixed(2)} ms`,
      formatRatio(r.p99 / ws.p99),
      `${r.rssPerConnectionKiB.toFixed(1)} KiB`,
      `${r.heapPerConnectionKiB.toFixed(1)} KiB`,
      Number.isNaN(r.wireBytesPerDelivery) ? '—' : `${r.wireBytesPerDelivery.toFixed(0)} B`,
      `${r.serverCpuUsPerDelivery.toFixed(2)} µs`,
    ];
  });
  const table = printTable(
    `WebSocket broadcast, loopback, ~200 B chat frames (median of ${rounds} round${rounds === 1 ? '' : 's'})`,
    ['system', 'deliveries/s', 'vs Socket.IO', 'p50 at 100 msg/s', 'p99 at 100 msg/s', 'p99 vs raw ws', 'RSS per idle connection', 'JS heap per idle connection', 'wire bytes per delivery', 'server CPU per delivery'],
    rows,
  );
  const targets: string[] = [];
  if (SIZES.includes(1000)) {
    const hub = find('msghub', 1000);
    const durable = find('msghub-file', 1000);
    targets.push(
      `durable (FileStore, fsync batch) vs in-memory store at 1000 clients: deliveries/s ${formatRatio(durable.rate / hub.rate)} (target >= 0.8x), p99 at 100 msg/s ${(durable.p99 - hub.p99).toFixed(2)} ms added (target <= 5 ms)`,
      `deliveries/s at 1000 clients vs Socket.IO: ${formatRatio(hub.rate / find('socketio', 1000).rate)} (target >= 2x)`,
      `p99 at 100 msg/s, 1000 clients vs raw ws: ${formatRatio(hub.p99 / find('ws', 1000).p99)} (target <= 1x)`,
      `RSS per idle connection at 1000 clients: ${hub.rssPerConnectionKiB.toFixed(1)} KiB (target <= 8 KB)`,
    );
  }
  for (const clients of SIZES) {
    const plain = find('msghub', clients);
    const deflate = find('msghub-deflate', clients);
    const http = find('msghub-http', clients);
    targets.push(
      `permessage-deflate vs off at ${clients} clients: wire bytes ${formatRatio(deflate.wireBytesPerDelivery / plain.wireBytesPerDelivery)}, deliveries/s ${formatRatio(deflate.rate / plain.rate)}, server CPU per delivery ${formatRatio(deflate.serverCpuUsPerDelivery / plain.serverCpuUsPerDelivery)}, p99 ${formatRatio(deflate.p99 / plain.p99)}, RSS per idle connection ${formatRatio(deflate.rssPerConnectionKiB / plain.rssPerConnectionKiB)}`,
      `HTTP carrier vs WebSocket at ${clients} clients: deliveries/s ${formatRatio(http.rate / plain.rate)}, p99 at 100 msg/s ${formatRatio(http.p99 / plain.p99)}, RSS per idle connection ${http.rssPerConnectionKiB.toFixed(1)} vs ${plain.rssPerConnectionKiB.toFixed(1)} KiB`,
    );
  }
  console.log(targets.join('\n'));
  const file = writeResults('transport', { quick, rounds, table, targets, results });
  console.log(`\nresults: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
