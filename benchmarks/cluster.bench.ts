/**
 * The cluster's hot paths on a private redis-server, measured in the same run as their limits:
 *
 * - one room's publish throughput through Redis (a MessageHub on a RedisStore: one script call per
 *   drained batch, every event delivered back through the stream), against pipelined raw XADDs of
 *   the same events (what Redis itself takes on this machine), with Redis round trips per event;
 * - publish→delivery latency across nodes at a paced 100 msg/s (publisher on one node, member on
 *   another), against a bare Redis PUBLISH→SUBSCRIBE hop at the same pace.
 *
 * Every run checks that every event arrived, in order. Results go to stdout and
 * benchmarks/results/cluster.json.
 *
 *   node --import tsx benchmarks/cluster.bench.ts [--quick] [--rounds N]
 */
import { Redis } from 'ioredis';
import { MessageHub, type HubEvent } from '@msghub/messagehub';
import { RedisStore } from '@msghub/cluster';
import { RedisServer } from '../packages/cluster/test/redis-server.js';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, quantile, writeResults } from './lib.js';

const { quick, rounds: roundsOption } = cliOptions();
const rounds = roundsOption ?? (quick ? 1 : 3);
const EVENTS = quick ? 50_000 : 200_000;
const PACED_SECONDS = quick ? 1 : 3;
const PAYLOAD = 'x'.repeat(64);

const server = await RedisServer.start();
let prefixes = 0;

/** One room, one publisher, one member: events/s until the member has seen every event, and round trips. */
/** Calls of a command Redis has counted so far (`INFO commandstats`). */
async function redisCalls(redis: Redis): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const match of (await redis.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
    counts.set(match[1] as string, Number(match[2]));
  }
  return counts;
}

async function msghubThroughput(): Promise<{ rate: number; scriptsPerEvent: number; commandsPerEvent: number }> {
  const store = new RedisStore({ redis: server.url, prefix: `bench${++prefixes}`, retain: 10_000 });
  const counter = new Redis(server.url);
  const hub = new MessageHub<string>({ chatroomId: 'lobby', store, mailboxSize: 4096 });
  let seen = 0;
  let last = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  hub.add('reader', 's1').subscribe((event) => {
    const e = event as HubEvent<string>;
    if (e.id !== last + 1) throw new Error(`event ${e.id} after ${last}`);
    last = e.id;
    if (e.type === 'message' && ++seen === EVENTS) done();
  });
  await hub.getHistory();
  const before = await redisCalls(counter);
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    // `message` resolves at once while the mailbox has room: await only when it asks to wait.
    const accepted = hub.message('writer', PAYLOAD);
    if (hub.stats().parked > 0) await accepted;
  }
  await finished;
  const seconds = (performance.now() - start) / 1000;
  const after = await redisCalls(counter);
  counter.disconnect();
  await hub.close();
  await store.close();
  const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  // Round trips of the hot path: one script call per chunk of a batch, and the blocking reads.
  return { rate: EVENTS / seconds, scriptsPerEvent: (delta('evalsha') + delta('eval')) / EVENTS, commandsPerEvent: (delta('evalsha') + delta('eval') + delta('xread')) / EVENTS };
}

/** The same number of events as pipelined XADDs (1000 per pipeline): Redis's own pace here. */
async function rawXadd(): Promise<number> {
  const redis = new Redis(server.url);
  const key = `raw${++prefixes}`;
  const line = JSON.stringify({ id: 0, chatroomId: 'lobby', type: 'message', userId: 'writer', message: PAYLOAD, unixTime: Date.now() });
  const start = performance.now();
  for (let i = 0; i < EVENTS; i += 1000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(EVENTS, i + 1000); j++) pipeline.xadd(key, 'MAXLEN', '~', '10000', `${j + 1}-0`, 'e', line);
    await pipeline.exec();
  }
  const seconds = (performance.now() - start) / 1000;
  await redis.quit();
  return EVENTS / seconds;
}

/** Publisher on one node, member on another, 100 msg/s: publish→delivery latencies in ms. */
async function msghubLatency(): Promise<number[]> {
  const prefix = `latency${++prefixes}`;
  const [a, b] = [new RedisStore({ redis: server.url, prefix }), new RedisStore({ redis: server.url, prefix })];
  const [onA, onB] = [new MessageHub<string>({ chatroomId: 'lobby', store: a }), new MessageHub<string>({ chatroomId: 'lobby', store: b })];
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  onB.add('reader', 's1').subscribe((event) => {
    if (event.type !== 'message') return;
    const at = sent.get(event.message);
    if (at !== undefined) latencies.push(performance.now() - at);
  });
  await onB.getHistory();
  await onA.getHistory();
  const total = PACED_SECONDS * 100;
  for (let i = 0; i < total; i++) {
    sent.set(`m${i}`, performance.now());
    void onA.publish(`m${i}`, { from: 'writer' });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  if (latencies.length < total) throw new Error(`only ${latencies.length} of ${total} delivered`);
  await Promise.all([onA.close(), onB.close()]);
  await Promise.all([a.close(), b.close()]);
  return latencies;
}

/** One Redis PUBLISH→SUBSCRIBE hop at 100 msg/s: the floor of any delivery through Redis. */
async function pubsubLatency(): Promise<number[]> {
  const [publisher, subscriber] = [new Redis(server.url), new Redis(server.url)];
  const latencies: number[] = [];
  const sent = new Map<string, number>();
  subscriber.on('message', (_channel: string, message: string) => {
    const at = sent.get(message);
    if (at !== undefined) latencies.push(performance.now() - at);
  });
  await subscriber.subscribe('bench');
  const total = PACED_SECONDS * 100;
  for (let i = 0; i < total; i++) {
    sent.set(`m${i}`, performance.now());
    void publisher.publish('bench', `m${i}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  publisher.disconnect();
  subscriber.disconnect();
  return latencies;
}

try {
  const msghub: { rate: number; scriptsPerEvent: number; commandsPerEvent: number }[] = [];
  const raw: number[] = [];
  const latency: number[][] = [];
  const floor: number[][] = [];
  for (let round = 1; round <= rounds; round++) {
    progress(`cluster: round ${round}/${rounds}: raw XADD`);
    raw.push(await rawXadd());
    progress(`cluster: round ${round}/${rounds}: msghub publish through Redis`);
    msghub.push(await msghubThroughput());
    progress(`cluster: round ${round}/${rounds}: pub/sub latency`);
    floor.push(await pubsubLatency());
    progress(`cluster: round ${round}/${rounds}: cross-node latency`);
    latency.push(await msghubLatency());
  }
  progressDone();
  const rate = median(msghub.map((r) => r.rate));
  const rawRate = median(raw);
  const scripts = median(msghub.map((r) => r.scriptsPerEvent));
  const commands = median(msghub.map((r) => r.commandsPerEvent));
  const throughput = printTable(`One room through Redis, ${EVENTS} events of ${PAYLOAD.length} B, medians of ${rounds}`, ['path', 'events/s', 'script calls per event', 'round trips per event (scripts + reads)', 'ratio'], [
    ['raw XADD, pipelined 1000 at a time (the limit)', formatRate(rawRate), '0', '0.001', '1.00x'],
    ['msghub: publish, sequenced by Redis, delivered back through the stream', formatRate(rate), scripts.toFixed(5), commands.toFixed(5), formatRatio(rate / rawRate)],
  ]);
  const stats = (all: number[][]): { p50: number; p99: number } => ({
    p50: median(all.map((l) => quantile(l, 0.5))),
    p99: median(all.map((l) => quantile(l, 0.99))),
  });
  const ours = stats(latency);
  const base = stats(floor);
  const latencyTable = printTable(`Publish→delivery latency at 100 msg/s for ${PACED_SECONDS} s, ms, medians of ${rounds}`, ['path', 'p50', 'p99'], [
    ['Redis PUBLISH→SUBSCRIBE, one hop (the floor)', base.p50.toFixed(2), base.p99.toFixed(2)],
    ['msghub across nodes (publisher on A, member on B)', ours.p50.toFixed(2), ours.p99.toFixed(2)],
  ]);
  const file = writeResults('cluster', {
    tables: [throughput, latencyTable],
    events: EVENTS,
    rounds,
    throughput: { msghub, raw },
    latency: { msghub: ours, pubsub: base },
  });
  console.log(`results: ${file}`);
} finally {
  await server.stop();
}
