/**
 * In-process fan-out: delivered events per second from one publisher to S subscribers, for the
 * hub and for what a user would pick instead (Node's EventEmitter, a bare RxJS Subject), measured
 * in the same run. Every subscriber keeps a reference to each event so delivery cannot be
 * optimised away, and every run checks that nothing was lost.
 *
 *   node --import tsx benchmarks/hub-fanout.bench.ts [--quick] [--rounds N]
 */
import { EventEmitter } from 'node:events';
import { Subject } from 'rxjs';
import { MessageHub } from '@msghub/messagehub';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, progressPlan, writeResults } from './lib.js';

interface Sink {
  last: unknown;
  count: number;
}

type Runner = (subscribers: number, messages: number) => Promise<{ seconds: number; delivered: number }>;

function sinks(n: number): Sink[] {
  return Array.from({ length: n }, () => ({ last: undefined, count: 0 }));
}

const total = (all: Sink[]): number => all.reduce((sum, s) => sum + s.count, 0);

const runEmitter: Runner = async (subscribers, messages) => {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const all = sinks(subscribers);
  for (const sink of all) {
    emitter.on('event', (event: unknown) => {
      sink.last = event;
      sink.count++;
    });
  }
  const start = performance.now();
  for (let i = 0; i < messages; i++) emitter.emit('event', { id: i + 1, type: 'message', message: 'x' });
  const seconds = (performance.now() - start) / 1000;
  return { seconds, delivered: total(all) };
};

const runSubject: Runner = async (subscribers, messages) => {
  const subject = new Subject<unknown>();
  const all = sinks(subscribers);
  for (const sink of all) {
    subject.subscribe((event) => {
      sink.last = event;
      sink.count++;
    });
  }
  const start = performance.now();
  for (let i = 0; i < messages; i++) subject.next({ id: i + 1, type: 'message', message: 'x' });
  const seconds = (performance.now() - start) / 1000;
  return { seconds, delivered: total(all) };
};

const runHub: Runner = async (subscribers, messages) => {
  const hub = new MessageHub<string>({ chatroomId: 'bench' });
  const all = sinks(subscribers);
  for (const [i, sink] of all.entries()) {
    hub.add(`u${i}`, 's').subscribe((event) => {
      if (event.type !== 'message') return;
      sink.last = event;
      sink.count++;
    });
  }
  await hub.getHistory(); // every session has joined
  const start = performance.now();
  let accepted: Promise<void> = Promise.resolve();
  for (let i = 0; i < messages; i++) {
    accepted = hub.message('u0', 'x');
    // A publisher that honours backpressure: wait for the room every 1024 messages.
    if ((i & 1023) === 1023) await accepted;
  }
  await hub.getHistory(); // answered after every message above was delivered
  const seconds = (performance.now() - start) / 1000;
  await hub.close();
  return { seconds, delivered: total(all) };
};

const contenders: [string, Runner][] = [
  ['Node EventEmitter', runEmitter],
  ['bare RxJS Subject', runSubject],
  ['msghub MessageHub', runHub],
];

async function main(): Promise<void> {
  const { quick, rounds: roundsOption } = cliOptions();
  const rounds = roundsOption ?? (quick ? 2 : 5);
  const sizes = [1, 10, 100, 1000];
  const budget = quick ? 2_000_000 : 10_000_000; // deliveries per run
  const rates = new Map<string, number[]>();
  const lost: string[] = [];
  progressPlan(sizes.length * rounds * contenders.length);
  for (const subscribers of sizes) {
    const messages = Math.max(2_000, Math.floor(budget / subscribers));
    // Warm up each contender once so the JIT has settled before measuring.
    for (const [, run] of contenders) await run(subscribers, Math.min(messages, 20_000));
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of contenders) {
        progress(`hub-fanout S=${subscribers} round ${round + 1}/${rounds} ${name}`);
        (globalThis as { gc?: () => void }).gc?.();
        const { seconds, delivered } = await run(subscribers, messages);
        if (delivered !== messages * subscribers) lost.push(`${name} S=${subscribers}: ${delivered}/${messages * subscribers}`);
        const key = `${name}|${subscribers}`;
        rates.set(key, [...(rates.get(key) ?? []), delivered / seconds]);
      }
    }
  }
  progressDone();
  const rate = (name: string, s: number): number => median(rates.get(`${name}|${s}`) ?? []);
  const header = ['delivered events/s', ...sizes.map((s) => `S=${s}`)];
  const rows = contenders.map(([name]) => [name, ...sizes.map((s) => formatRate(rate(name, s)))]);
  rows.push(['hub / Subject', ...sizes.map((s) => formatRatio(rate('msghub MessageHub', s) / rate('bare RxJS Subject', s)))]);
  rows.push(['hub / EventEmitter', ...sizes.map((s) => formatRatio(rate('msghub MessageHub', s) / rate('Node EventEmitter', s)))]);
  const table = printTable(`In-process fan-out, median of ${rounds} rounds`, header, rows);
  console.log(lost.length === 0 ? 'Loss: none (every contender delivered every event to every subscriber).' : `LOSS: ${lost.join('; ')}`);
  const results = Object.fromEntries([...rates].map(([key, values]) => [key, { median: median(values), rounds: values }]));
  const file = writeResults('hub-fanout', { rounds, sizes, table, results, lost });
  console.log(`Results: ${file}`);
  if (lost.length > 0) process.exitCode = 1;
}

await main();
