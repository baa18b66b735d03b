/**
 * In-process fan-out: delivered events per second from one publisher to S subscribers, for the
 * hub and for what a user would pick instead (Node's EventEmitter, a bare RxJS Subject), measured
 * in the same run. Every subscriber keeps a reference to each event so delivery cannot be
 * optimised away, and every run checks that nothing was lost.
 *
 * The hub's guarantees each have a row of their own, so that what each one costs stays visible
 * as a same-run ratio to the default hub (no store, a history of 1024, no listener): the history
 * switched off (`historySize: 0`), a listener attached (every event also handed to it), and a
 * store (every drained batch committed before it is delivered): the `MemoryStore`, a `FileStore`
 * that writes without syncing, and a `FileStore` that syncs every batch (`fsync: 'batch'`). The
 * file store rows send at most 200k messages per run. Each of these rows runs in a child process of its
 * own (see `isolated`), and so does the default hub once more as their baseline, and the bare
 * Subject once more, so that the hub and the Subject are also compared each alone in a process
 * (the row `hub / Subject, each in its own process`).
 *
 *   node --import tsx benchmarks/hub-fanout.bench.ts [--quick] [--rounds N] [--sizes=1,100]
 */
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Subject } from 'rxjs';
import { MemoryStore, MessageHub, type MessageHubOptions, type RoomStore } from '@msghub/messagehub';
import { FileStore } from '@msghub/datalog';
import { cliOptions, flagValue, formatRate, formatRatio, median, printTable, progress, progressDone, progressPlan, writeResults } from './lib.js';

interface Sink {
  last: unknown;
  count: number;
}

/** `messages`: how many the runner sent, when it sent fewer than asked (the store rows). */
type Runner = (subscribers: number, messages: number) => Promise<{ seconds: number; delivered: number; messages?: number }>;

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

const runHub: Runner = (subscribers, messages) => fanOut({ chatroomId: 'bench' }, subscribers, messages);

/** The hub's harness with `options`; `listener` attaches one that keeps a reference to each event. */
async function fanOut(
  options: MessageHubOptions<string>,
  subscribers: number,
  messages: number,
  listener = false,
): Promise<{ seconds: number; delivered: number }> {
  const hub = new MessageHub<string>(options);
  let seen: unknown;
  if (listener) {
    hub.attachListener((event) => {
      seen = event;
    });
  }
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
  if (listener && seen === undefined) throw new Error('the listener saw nothing');
  return { seconds, delivered: total(all) };
}

const STORE_MESSAGES = 200_000;
let storeDir: string | undefined;
let fileNo = 0;

/** The hub with a store from `open`; at most `cap` messages (a synced file is slow at S = 1). */
function withStore(open: () => RoomStore, cap = Infinity): Runner {
  return async (subscribers, messages) => {
    const sent = Math.min(messages, cap);
    const store = open();
    try {
      return { ...(await fanOut({ chatroomId: 'bench', store }, subscribers, sent)), messages: sent };
    } finally {
      if (store instanceof FileStore) await store.close();
      if (storeDir !== undefined) rmSync(storeDir, { recursive: true, force: true });
      storeDir = undefined;
    }
  };
}

function fileStore(fsync: 'never' | 'batch'): () => RoomStore {
  return () => {
    storeDir = mkdtempSync(join(tmpdir(), 'msghub-fanout-'));
    return new FileStore({ file: join(storeDir, `fanout-${++fileNo}.log`), fsync });
  };
}

const HUB = 'msghub MessageHub';
/** The default hub again, in a process of its own like the rows it is the baseline of. */
const HUB_ALONE = 'hub (defaults), own process';
/** The Subject in a process of its own too, so that one comparison has both sides run alike. */
const SUBJECT_ALONE = 'bare RxJS Subject, own process';
/** One row per guarantee switched off or added, each compared with the default hub of the same run. */
const guarantees: [string, Runner][] = [
  [HUB_ALONE, (s, m) => fanOut({ chatroomId: 'bench' }, s, m)],
  ['hub, historySize 0', (s, m) => fanOut({ chatroomId: 'bench', historySize: 0 }, s, m)],
  ['hub, a listener attached', (s, m) => fanOut({ chatroomId: 'bench' }, s, m, true)],
  ['hub, MemoryStore', withStore(() => new MemoryStore())],
  ['hub, FileStore fsync=never', withStore(fileStore('never'), STORE_MESSAGES)],
  ['hub, FileStore fsync=batch', withStore(fileStore('batch'), STORE_MESSAGES)],
];
/** What runs in a child process of its own: the guarantee rows and the Subject once more. */
const alone: [string, Runner][] = [...guarantees, [SUBJECT_ALONE, runSubject]];

/**
 * Runs a guarantee's row in a child process of its own (a warm-up, then the measured run): hubs with
 * a store or a listener take other paths through the same code, and in one process they would
 * leave the JIT's view of that code polymorphic and slow the default hub's row down (a process
 * usually runs one kind of room). The rounds still interleave with the other contenders'.
 */
function isolated(name: string): Runner {
  return async (subscribers, messages) => {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), `--variant=${name}`, `--subscribers=${subscribers}`, `--messages=${messages}`];
    const child = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !line.startsWith('{')) throw new Error(`${name} S=${subscribers} exited with ${child.status ?? child.signal}`);
    return JSON.parse(line) as { seconds: number; delivered: number; messages?: number };
  };
}

/**
 * Two runs as long as the measured one before it, so that what is measured is the JIT's settled
 * code: the first run compiles the hot path, and its end (closing the room: a new event shape,
 * paths not taken before) deoptimises part of it, which the second run compiles again. With one
 * warm-up of 20k messages a measured run at S = 1 carried ~20-50 ms of that (6-14% of a
 * 10M-message run), the hub's and the Subject's alike; after two of 500k the hub's child ran at
 * 0.88x the rate it reached after two full-length ones, the Subject's at 0.93x (S = 1, three
 * processes each).
 */
async function warmUp(run: Runner, subscribers: number, messages: number): Promise<void> {
  for (let i = 0; i < 2; i++) await run(subscribers, messages);
}

/** In a child started by {@link isolated}: runs one guarantee's row and prints its result as JSON. */
async function runVariant(argv: readonly string[]): Promise<void> {
  const value = (key: string): string => flagValue(key, '', argv);
  const run = alone.find(([name]) => name === value('variant'))?.[1];
  if (run === undefined) throw new Error(`No variant ${value('variant')}`);
  const subscribers = Number(value('subscribers'));
  const messages = Number(value('messages'));
  await warmUp(run, subscribers, messages);
  (globalThis as { gc?: () => void }).gc?.();
  console.log(JSON.stringify(await run(subscribers, messages)));
}

const contenders: [string, Runner][] = [
  ['Node EventEmitter', runEmitter],
  ['bare RxJS Subject', runSubject],
  [HUB, runHub],
  ...alone.map(([name]): [string, Runner] => [name, isolated(name)]),
];
const warmedInChild = new Set(alone.map(([name]) => name));

/** The median over rounds of `a[i] / b[i]`: the ratio of two contenders measured in the same round. */
function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  return median(Array.from({ length: n }, (_, i) => (a[i] as number) / (b[i] as number)));
}

/** `--sizes=1,100`: only these subscriber counts. */
function sizesOption(argv = process.argv.slice(2)): number[] | undefined {
  const given = flagValue('sizes', '', argv);
  if (given === '') return undefined;
  const sizes = given.split(',').map(Number);
  return sizes.every((n) => Number.isSafeInteger(n) && n > 0) ? sizes : undefined;
}

async function main(): Promise<void> {
  const { quick, rounds: roundsOption } = cliOptions();
  const rounds = roundsOption ?? (quick ? 2 : 5);
  const sizes = sizesOption() ?? [1, 10, 100, 1000];
  const budget = quick ? 2_000_000 : 10_000_000; // deliveries per run
  const rates = new Map<string, number[]>();
  const lost: string[] = [];
  progressPlan(sizes.length * rounds * contenders.length);
  for (const subscribers of sizes) {
    const messages = Math.max(2_000, Math.floor(budget / subscribers));
    for (const [name, run] of contenders) if (!warmedInChild.has(name)) await warmUp(run, subscribers, messages);
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of contenders) {
        progress(`hub-fanout S=${subscribers} round ${round + 1}/${rounds} ${name}`);
        (globalThis as { gc?: () => void }).gc?.();
        const { seconds, delivered, messages: sent = messages } = await run(subscribers, messages);
        if (delivered !== sent * subscribers) lost.push(`${name} S=${subscribers}: ${delivered}/${sent * subscribers}`);
        const key = `${name}|${subscribers}`;
        rates.set(key, [...(rates.get(key) ?? []), delivered / seconds]);
      }
    }
  }
  progressDone();
  const rate = (name: string, s: number): number => median(rates.get(`${name}|${s}`) ?? []);
  // Each round runs every contender once, one after the other, so a round's two figures saw the
  // same state of this shared machine; its speed shifts between rounds (by 1.5x at times), which a
  // ratio of the two medians would mix in when the shift falls between them.
  const ratio = (a: string, b: string, s: number): string => formatRatio(pairedRatio(rates.get(`${a}|${s}`) ?? [], rates.get(`${b}|${s}`) ?? []));
  const header = ['delivered events/s', ...sizes.map((s) => `S=${s}`)];
  const rows = contenders.map(([name]) => [name, ...sizes.map((s) => formatRate(rate(name, s)))]);
  rows.push(['hub / Subject', ...sizes.map((s) => ratio('msghub MessageHub', 'bare RxJS Subject', s))]);
  rows.push(['hub / EventEmitter', ...sizes.map((s) => ratio('msghub MessageHub', 'Node EventEmitter', s))]);
  rows.push(['hub / Subject, each in its own process', ...sizes.map((s) => ratio(HUB_ALONE, SUBJECT_ALONE, s))]);
  for (const [name] of guarantees) {
    if (name === HUB_ALONE) continue;
    rows.push([`${name} / hub (own process)`, ...sizes.map((s) => ratio(name, HUB_ALONE, s))]);
  }
  for (const [name] of guarantees) {
    rows.push([`${name} / Subject`, ...sizes.map((s) => ratio(name, 'bare RxJS Subject', s))]);
  }
  rows.push([
    'FileStore fsync=batch / MemoryStore',
    ...sizes.map((s) => ratio('hub, FileStore fsync=batch', 'hub, MemoryStore', s)),
  ]);
  const table = printTable(`In-process fan-out, median of ${rounds} rounds (ratios: median of the rounds' ratios)`, header, rows);
  console.log(lost.length === 0 ? 'Loss: none (every contender delivered every event to every subscriber).' : `LOSS: ${lost.join('; ')}`);
  const results = Object.fromEntries([...rates].map(([key, values]) => [key, { median: median(values), rounds: values }]));
  const file = writeResults('hub-fanout', { rounds, sizes, table, results, lost });
  console.log(`Results: ${file}`);
  if (lost.length > 0) process.exitCode = 1;
}

if (process.argv.some((a) => a.startsWith('--variant='))) await runVariant(process.argv.slice(2));
else await main();
