/**
 * WebSocket broadcast as the number of clients grows: 100, 1000, 5000 and 10,000 clients over
 * loopback, msghub's HubServer against raw `ws` and Socket.IO 4 in the same run. Per system and
 * size, every round starts a fresh server process and fresh client processes (at most 5000
 * clients each) and measures, in that order:
 *
 * - RSS and JS heap per idle connection: the server's growth once every client is connected
 *   (msghub: past `welcome`, not yet in a room), after GC, divided by the clients;
 * - deliveries/s: broadcasts to every client handed to the server as fast as it takes them, timed
 *   until every client process has counted all of them;
 * - p50/p99 latency at a paced 100 msg/s, sampled at every 10th client, merged over the client
 *   processes: for 3 s, or at most 1M deliveries (5000 clients: 2 s, 10,000: 1 s), so that a system
 *   that cannot keep up builds the same backlog at every size instead of running into the bound.
 *   Latency is counted twice: from the time each broadcast was sent (the server stamps it as it
 *   hands it on) and from the time it was due by the pace. A server that cannot keep the pace sends
 *   late, and only the second counts that wait (the first omits it, as a load generator that waits
 *   for the system it measures does); the table also shows how long the paced phase took.
 *
 * msghub's clients join the room in waves of 500 before the throughput phase, and the join phase is
 * timed. The room is created with `presenceEvents: 'none'`, as a user would create a room of
 * thousands (docs/transport.md): no member is announced to the others, so joining N clients costs N
 * `ok` frames, not the N²/2 join deliveries (50M at 10,000) of a room that announces everyone, and
 * neither raw ws nor Socket.IO sends the members anything when one joins either.
 *
 * Rounds go round-robin over the systems so that the machine's load drifts hit each alike; tables
 * give the median and the spread (min to max) over the rounds, and the ratios are of the medians.
 * Open files: each child raises its soft limit (see peer.ts); the run stops with a clear message if
 * the hard limit is below what the server needs (clients + 256). Every wait is bounded; a phase that
 * does not finish in time is reported as such, not dropped.
 *
 *   node --expose-gc --import tsx benchmarks/transport-scale.bench.ts [--quick] [--rounds N]
 *     [--clients 100,1000,5000,10000] [--systems ws,socketio,msghub] [--paced-seconds S]
 *     [--memory-only]   (idle connections only: no join, no broadcast)
 *     [--join-seconds S] (bound of connecting and of msghub's join phase, default 180)
 *
 * Results: benchmarks/results/transport-scale.json (every round; with --memory-only
 * transport-scale-memory.json); `pnpm bench:charts` draws them.
 */
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, progressPlan, quantile, writeResults } from './lib.js';
import { checkFileLimit, Peer } from './peer.js';

const ALL_SYSTEMS = ['ws', 'socketio', 'msghub'] as const;
type SystemName = (typeof ALL_SYSTEMS)[number];
const LABEL: Record<SystemName, string> = { ws: 'raw ws', socketio: 'Socket.IO 4', msghub: 'msghub' };

function listOption(name: string): string[] | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? (process.argv[at + 1] ?? '').split(',').filter((v) => v !== '') : undefined;
}

const { quick, rounds: roundsOption } = cliOptions();
const rounds = roundsOption ?? (quick ? 1 : 3);
const SIZES = (listOption('--clients') ?? (quick ? ['100', '500'] : ['100', '1000', '5000', '10000'])).map(Number);
const SYSTEMS = (listOption('--systems') ?? [...ALL_SYSTEMS]) as SystemName[];
const pacedAt = process.argv.indexOf('--paced-seconds');
const PACED_SECONDS = pacedAt >= 0 ? Number(process.argv[pacedAt + 1]) : quick ? 1 : 3;
/** The paced run's length at a size: PACED_SECONDS, cut to at most 1M deliveries. */
const pacedSeconds = (clients: number): number => Math.min(PACED_SECONDS, Math.max(0.1, 10_000 / clients));
const MEMORY_ONLY = process.argv.includes('--memory-only');
/** Deliveries per throughput round: about a second of work for msghub. */
const DELIVERIES = quick ? 50_000 : 400_000;
/** Clients per client process (--quick: small, so that a smoke run also merges several). */
const CLIENTS_PER_PROCESS = quick ? 250 : 5000;
/** Waits for a phase (a blast, a paced run); connecting and joining get SETUP_MS. */
const WAIT_MS = 60_000;
const joinAt = process.argv.indexOf('--join-seconds');
const SETUP_MS = (joinAt >= 0 ? Number(process.argv[joinAt + 1]) : 180) * 1000;
/** msghub clients join in waves of this many: each join is announced to every member. */
const JOIN_BATCH = 500;

if (SIZES.some((n) => !Number.isSafeInteger(n) || n < 1) || SYSTEMS.some((s) => !ALL_SYSTEMS.includes(s)) || !(PACED_SECONDS > 0)) {
  console.error(`Expected --clients n,n,... (positive integers), --systems among ${ALL_SYSTEMS.join(',')}, --paced-seconds > 0`);
  process.exit(2);
}

/** One round of one system at one size; a phase that timed out leaves its figures undefined. */
interface Round {
  system: SystemName;
  clients: number;
  round: number;
  rssPerConnectionKiB: number;
  heapPerConnectionKiB: number;
  rate?: number;
  /** msghub: seconds from the first join sent to the last client's `ok`. */
  joinSeconds?: number;
  /** Latency from the time each paced broadcast was sent. */
  p50?: number;
  p99?: number;
  /** Latency from the time each paced broadcast was due: what falling behind the pace adds. */
  dueP50?: number;
  dueP99?: number;
  /** Seconds the paced phase took from its first broadcast to the last delivery (asked: `pacedSeconds`). */
  pacedTook?: number;
  /** What did not finish within its bound, if anything. */
  timedOut?: string;
}

function split(clients: number): number[] {
  const processes = Math.ceil(clients / CLIENTS_PER_PROCESS);
  return Array.from({ length: processes }, (_, i) => Math.floor(clients / processes) + (i < clients % processes ? 1 : 0));
}

/** Waits until the client processes have stopped receiving (the tail of the joins), at most 30 s. */
async function quiesce(loads: readonly Peer[]): Promise<void> {
  let last = -1;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    let sum = 0;
    for (const load of loads) {
      load.send({ cmd: 'progress' });
      sum += (await load.next('received')).received as number;
    }
    if (sum === last) return;
    last = sum;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function all<T>(loads: readonly Peer[], key: string, timeoutMs = WAIT_MS): Promise<Record<string, unknown>[]> {
  return Promise.all(loads.map((load) => load.next(key, timeoutMs)));
}

async function runRound(system: SystemName, clients: number, round: number, step: (what: string) => void): Promise<Round> {
  const counts = split(clients);
  step('connecting');
  const args = system === 'msghub' ? [system, '--presence-events=none'] : [system];
  const server = new Peer('transport-server.ts', args, { gc: true, nofile: clients + 256, waitMs: SETUP_MS });
  const loads: Peer[] = [];
  const result: Round = { system, clients, round, rssPerConnectionKiB: Number.NaN, heapPerConnectionKiB: Number.NaN };
  let phase = 'connecting';
  try {
    const base = (await server.next('port')) as { port: number; rss: number; heapUsed: number };
    for (const [i, count] of counts.entries()) {
      loads.push(new Peer('transport-clients.ts', [system, `ws://127.0.0.1:${base.port}/`, String(count), `p${i}-`], { nofile: count + 256, waitMs: SETUP_MS }));
    }
    await all(loads, 'ready', SETUP_MS);
    server.send({ cmd: 'rss' });
    const { rss, heapUsed } = (await server.next('rss')) as { rss: number; heapUsed: number };
    result.rssPerConnectionKiB = (rss - base.rss) / clients / 1024;
    result.heapPerConnectionKiB = (heapUsed - base.heapUsed) / clients / 1024;
    if (MEMORY_ONLY) return result;

    if (system === 'msghub') {
      phase = 'joining';
      step('joining the room');
      const joinStart = performance.now();
      for (const load of loads) load.send({ cmd: 'join', batch: JOIN_BATCH, quiet: true });
      await all(loads, 'joined', SETUP_MS);
      result.joinSeconds = (performance.now() - joinStart) / 1000;
      await quiesce(loads);
    }

    phase = 'throughput';
    step('throughput');
    const messages = Math.max(1, Math.round(DELIVERIES / clients));
    for (const [i, load] of loads.entries()) load.send({ cmd: 'expect', total: messages * (counts[i] as number) });
    await all(loads, 'armed');
    const start = performance.now();
    server.send({ cmd: 'blast', count: messages });
    await all(loads, 'done');
    result.rate = (messages * clients) / ((performance.now() - start) / 1000);
    await server.next('done', WAIT_MS);

    phase = 'latency at 100 msg/s';
    step(phase);
    const paced = Math.round(100 * pacedSeconds(clients));
    for (const [i, load] of loads.entries()) load.send({ cmd: 'expect', total: paced * (counts[i] as number), latency: true });
    await all(loads, 'armed');
    const pacedStart = performance.now();
    server.send({ cmd: 'pace', count: paced, rate: 100 });
    await server.next('done', WAIT_MS);
    await all(loads, 'done');
    result.pacedTook = (performance.now() - pacedStart) / 1000;
    for (const load of loads) load.send({ cmd: 'latencies', raw: true });
    const answers = await all(loads, 'p99');
    const values = answers.flatMap((answer) => answer.values as number[]);
    const dueValues = answers.flatMap((answer) => answer.dueValues as number[]);
    result.p50 = quantile(values, 0.5);
    result.p99 = quantile(values, 0.99);
    result.dueP50 = quantile(dueValues, 0.5);
    result.dueP99 = quantile(dueValues, 0.99);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('No '))) throw error;
    result.timedOut = phase;
    console.error(`\n${LABEL[system]}, ${clients} clients, round ${round}: ${phase} did not finish in time (${error.message})`);
  } finally {
    await Promise.all(loads.map((load) => load.stop()));
    await server.stop();
  }
  return result;
}

interface Summary {
  system: SystemName;
  clients: number;
  /** Median, min and max over the rounds that finished the phase; undefined if none did. */
  rate?: [number, number, number];
  p50?: [number, number, number];
  p99?: [number, number, number];
  dueP99?: [number, number, number];
  pacedTook?: [number, number, number];
  rss?: [number, number, number];
  heap?: [number, number, number];
  join?: [number, number, number];
  timedOut: string[];
}

function spread(values: (number | undefined)[]): [number, number, number] | undefined {
  const finished = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return finished.length === 0 ? undefined : [median(finished), Math.min(...finished), Math.max(...finished)];
}

function summarise(results: readonly Round[]): Summary[] {
  const summaries: Summary[] = [];
  for (const clients of SIZES.filter((n) => results.some((r) => r.clients === n))) {
    for (const system of SYSTEMS) {
      const mine = results.filter((r) => r.system === system && r.clients === clients);
      const summary: Summary = { system, clients, timedOut: mine.flatMap((r) => (r.timedOut === undefined ? [] : [`round ${r.round}: ${r.timedOut}`])) };
      const put = (key: 'rate' | 'p50' | 'p99' | 'dueP99' | 'pacedTook' | 'rss' | 'heap' | 'join', values: (number | undefined)[]): void => {
        const s = spread(values);
        if (s !== undefined) summary[key] = s;
      };
      put('rate', mine.map((r) => r.rate));
      put('p50', mine.map((r) => r.p50));
      put('p99', mine.map((r) => r.p99));
      put('dueP99', mine.map((r) => r.dueP99));
      put('pacedTook', mine.map((r) => r.pacedTook));
      put('rss', mine.map((r) => r.rssPerConnectionKiB));
      put('heap', mine.map((r) => r.heapPerConnectionKiB));
      put('join', mine.map((r) => r.joinSeconds));
      summaries.push(summary);
    }
  }
  return summaries;
}

const withSpread = (s: [number, number, number] | undefined, format: (v: number) => string): string =>
  s === undefined ? 'timed out' : rounds === 1 ? format(s[0]) : `${format(s[0])} (${format(s[1])} to ${format(s[2])})`;
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const kib = (v: number): string => v.toFixed(1);

async function main(): Promise<void> {
  const largest = Math.max(...SIZES);
  checkFileLimit(largest + 256, `The server with ${largest} connections`);
  const results: Round[] = [];
  // Per round of a system at a size: connecting, (joining,) throughput, latency.
  progressPlan(SIZES.length * rounds * (MEMORY_ONLY ? SYSTEMS.length : SYSTEMS.reduce((sum, s) => sum + (s === 'msghub' ? 4 : 3), 0)));
  for (const clients of SIZES) {
    for (let round = 1; round <= rounds; round++) {
      for (const system of SYSTEMS) {
        const step = (what: string): void => progress(`${LABEL[system]}, ${clients} clients, round ${round}/${rounds}: ${what}`);
        results.push(await runRound(system, clients, round, step));
      }
    }
    // What is done so far survives a run cut short.
    save(results, []);
  }
  progressDone();

  const summaries = summarise(results);
  const find = (system: SystemName, clients: number): Summary | undefined => summaries.find((s) => s.system === system && s.clients === clients);
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : formatRatio(a / b));
  const title = `median of ${rounds} round${rounds === 1 ? '' : 's'}${rounds === 1 ? '' : ' (min to max)'}`;
  const rows = summaries.map((s) => [
    `${LABEL[s.system]}, ${s.clients} clients`,
    withSpread(s.rate, formatRate),
    ratio(s.rate?.[0], find('socketio', s.clients)?.rate?.[0]),
    withSpread(s.p50, ms),
    withSpread(s.p99, ms),
    ratio(s.p99?.[0], find('ws', s.clients)?.p99?.[0]),
    withSpread(s.dueP99, ms),
    ratio(s.dueP99?.[0], find('ws', s.clients)?.dueP99?.[0]),
    `${pacedSeconds(s.clients)} s`,
    withSpread(s.pacedTook, (v) => `${v.toFixed(1)} s`),
  ]);
  const broadcast = MEMORY_ONLY ? '' : printTable(
    `WebSocket broadcast at scale, loopback, chat-line frames as in transport.bench.ts, ${title}`,
    ['system', 'deliveries/s', 'vs Socket.IO', 'p50 ms at 100 msg/s', 'p99 ms at 100 msg/s', 'p99 vs raw ws', 'p99 ms from due time', 'vs raw ws', 'paced for', 'took'],
    rows,
  );
  const joinRows = summaries.filter((s) => s.system === 'msghub').map((s) => [`msghub, ${s.clients} clients`, withSpread(s.join, (v) => v.toFixed(2))]);
  const joins = MEMORY_ONLY || joinRows.length === 0 ? '' : printTable(
    `Joining msghub's room (presenceEvents 'none', waves of ${JOIN_BATCH}), ${title}`,
    ['system', 'seconds to the last ok'],
    joinRows,
  );
  const memoryRows = summaries.map((s) => [
    `${LABEL[s.system]}, ${s.clients} connections`,
    withSpread(s.rss, kib),
    ratio(s.rss?.[0], find('ws', s.clients)?.rss?.[0]),
    withSpread(s.heap, kib),
  ]);
  const memory = printTable(`Server memory per idle connection (KiB), ${title}`, ['system', 'RSS', 'RSS vs raw ws', 'JS heap'], memoryRows);
  const timedOut = summaries.filter((s) => s.timedOut.length > 0).map((s) => `${LABEL[s.system]} at ${s.clients}: ${s.timedOut.join(', ')}`);
  if (timedOut.length > 0) console.log(`Did not finish within its bound (${WAIT_MS / 1000} s a phase, ${SETUP_MS / 1000} s connecting or joining): ${timedOut.join('; ')}`);
  console.log(`\nresults: ${save(results, [broadcast, joins, memory])}`);
}

function save(results: readonly Round[], tables: string[]): string {
  return writeResults(MEMORY_ONLY ? 'transport-scale-memory' : 'transport-scale', {
    quick,
    rounds,
    sizes: SIZES,
    systems: SYSTEMS,
    memoryOnly: MEMORY_ONLY,
    pacedSeconds: Object.fromEntries(SIZES.map((n) => [n, pacedSeconds(n)])),
    deliveriesPerRound: DELIVERIES,
    tables,
    summaries: summarise(results),
    results,
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
