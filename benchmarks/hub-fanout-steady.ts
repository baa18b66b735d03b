/**
 * One contender of hub-fanout.bench.ts at S = 1, alone in its process, timed per million messages
 * over several runs (a new room or Subject per run, as the bench makes): shows the warm-up of the
 * first runs apart from the steady state of the later ones, which the bench's one number per run
 * mixes.
 *
 *   node --import tsx benchmarks/hub-fanout-steady.ts --contender=hub [--runs=4] [--gc]
 *
 * Prints one line per run: the milliseconds of each 1M messages, then the run's total. `--gc`
 * forces a full collection before each run (needs `node --expose-gc`), as the bench does.
 * Contenders: `hub`, `subject`. Compare processes run one after the other, several of each.
 */
import { Subject } from 'rxjs';
import { MessageHub } from '@msghub/messagehub';
import { flagValue } from './lib.js';

const CHUNK = 1 << 20;
const CHUNKS = 8;

interface Sink {
  last: unknown;
  count: number;
}

/** Milliseconds per CHUNK messages, from one publisher to one subscriber of a new room. */
async function hub(): Promise<number[]> {
  const room = new MessageHub<string>({ chatroomId: 'bench' });
  const sink: Sink = { last: undefined, count: 0 };
  room.add('u0', 's').subscribe((event) => {
    if (event.type !== 'message') return;
    sink.last = event;
    sink.count++;
  });
  await room.getHistory();
  const chunks: number[] = [];
  let start = performance.now();
  let accepted: Promise<void> = Promise.resolve();
  for (let i = 0; i < CHUNK * CHUNKS; i++) {
    accepted = room.message('u0', 'x');
    // As the bench's publisher: wait for the room every 1024 messages.
    if ((i & 1023) !== 1023) continue;
    await accepted;
    if ((i & (CHUNK - 1)) === CHUNK - 1) {
      const now = performance.now();
      chunks.push(now - start);
      start = now;
    }
  }
  await room.getHistory();
  await room.close();
  if (sink.count !== CHUNK * CHUNKS) throw new Error(`Lost events: ${sink.count}/${CHUNK * CHUNKS}`);
  return chunks;
}

/** The same through a bare RxJS Subject. */
async function subject(): Promise<number[]> {
  const stream = new Subject<unknown>();
  const sink: Sink = { last: undefined, count: 0 };
  stream.subscribe((event) => {
    sink.last = event;
    sink.count++;
  });
  const chunks: number[] = [];
  let start = performance.now();
  for (let i = 0; i < CHUNK * CHUNKS; i++) {
    stream.next({ id: i + 1, type: 'message', message: 'x' });
    if ((i & (CHUNK - 1)) === CHUNK - 1) {
      const now = performance.now();
      chunks.push(now - start);
      start = now;
    }
  }
  if (sink.count !== CHUNK * CHUNKS) throw new Error(`Lost events: ${sink.count}/${CHUNK * CHUNKS}`);
  return chunks;
}

const contenders = { hub, subject };
const name = flagValue('contender', 'hub') as keyof typeof contenders;
const run = contenders[name];
if (run === undefined) throw new Error(`No contender ${name}`);
const runs = Number(flagValue('runs', '4'));
const collect = process.argv.includes('--gc') ? (globalThis as { gc?: () => void }).gc : undefined;
for (let r = 1; r <= runs; r++) {
  collect?.();
  const chunks = await run();
  const total = chunks.reduce((sum, ms) => sum + ms, 0);
  console.log(`${name} run ${r}: ${chunks.map((ms) => ms.toFixed(1)).join(' ')} ms per 1M; ${total.toFixed(0)} ms for ${CHUNKS}M`);
}
