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
import { RedisServer } from '../packages/cluster/test/redis-server.js';
import { Peer } from './peer.js';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, writeResults } from './lib.js';

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
    const done = await load.poll('done', Math.max(1, deadline - Date.now()));
    if (done !== undefined) {
      received += expected[i] as number;
      continue;
    }
    load.send({ cmd: 'progress' });
    received += Number((await load.next('received', 5000))['received']);
  }
  return received;
}

async function measure(system: SystemName, redis: RedisServer): Promise<Result> {
  await redis.restart(); // every system starts on an empty Redis
  const servers = [new Peer('transport-server.ts', [system, redis.url]), new Peer('transport-server.ts', [system, redis.url])];
  const loads: Peer[] = [];
  try {
    const ports = await Promise.all(servers.map(async (server) => Number((await server.next('port'))['port'])));
    const half = Math.floor(CLIENTS / 2);
    const counts = [half, CLIENTS - half];
    for (const [i, port] of ports.entries()) {
      loads.push(new Peer('transport-clients.ts', [system, `ws://127.0.0.1:${port}/`, String(counts[i]), `n${i}`]));
    }
    await Promise.all(loads.map((load) => load.next('ready')));
    if (system === 'msghub') {
      for (const load of loads) load.send({ cmd: 'join' });
      await Promise.all(loads.map((load) => load.next('joined')));
    }
    const publisher = servers[0] as Peer;
    const messages = Math.max(1, Math.round(DELIVERIES / CLIENTS));
    const rates: number[] = [];
    let lost = 0;
    let expected = 0;
    for (let round = 0; round < rounds; round++) {
      progress(`${LABEL[system]}: throughput round ${round + 1}/${rounds}`);
      loads.forEach((load, i) => load.send({ cmd: 'expect', total: messages * (counts[i] as number) }));
      await Promise.all(loads.map((load) => load.next('armed')));
      const start = performance.now();
      publisher.send({ cmd: 'blast', count: messages });
      const received = await collect(loads, counts.map((count) => count * messages));
      const seconds = (performance.now() - start) / 1000;
      await publisher.next('done');
      const total = messages * CLIENTS;
      expected += total;
      lost += total - Math.min(total, received);
      rates.push(Math.min(total, received) / seconds);
    }
    progress(`${LABEL[system]}: latency at 100 msg/s`);
    const paced = 100 * PACED_SECONDS;
    loads.forEach((load, i) => load.send({ cmd: 'expect', total: paced * (counts[i] as number), latency: true }));
    await Promise.all(loads.map((load) => load.next('armed')));
    publisher.send({ cmd: 'pace', count: paced, rate: 100 });
    await collect(loads, counts.map((count) => count * paced));
    await publisher.next('done');
    const latency = [];
    for (const load of loads) {
      load.send({ cmd: 'latencies' });
      const { p50, p99 } = (await load.next('p99')) as { p50: number; p99: number };
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
