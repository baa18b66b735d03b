/**
 * One contender of hub-fanout.bench.ts, alone in its process, for counting instructions rather
 * than timing them: two warm-up runs of 20k messages, then `--messages` messages to `--subscribers`
 * subscribers. Run it under callgrind twice with different message counts; the difference of the
 * two totals divided by the difference of the counts is the cost per message with start-up, the
 * module loader and the warm-up taken out.
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/hub-300k.out \
 *     node --single-threaded --import tsx benchmarks/hub-fanout-count.ts --contender=hub --messages=300000
 *
 * `--single-threaded` makes V8 compile on the main thread, so what is counted is the optimised
 * code, not code still waiting for a background compile. Contenders: `hub`, `subject`, `emitter`.
 * `--also=emitter,subject` runs those in the same process first (twice, interleaved with the
 * contender's own warm-up), as the bench's process does, to count what their JIT feedback costs;
 * `--warmup=N` sets the messages of each warm-up run (20k).
 */
import { EventEmitter } from 'node:events';
import { Subject } from 'rxjs';
import { MessageHub } from '@msghub/messagehub';
import { flagValue } from './lib.js';

interface Sink {
  last: unknown;
  count: number;
}

async function hub(subscribers: number, messages: number): Promise<number> {
  const room = new MessageHub<string>({ chatroomId: 'bench' });
  const sinks: Sink[] = [];
  for (let i = 0; i < subscribers; i++) {
    const sink: Sink = { last: undefined, count: 0 };
    sinks.push(sink);
    room.add(`u${i}`, 's').subscribe((event) => {
      if (event.type !== 'message') return;
      sink.last = event;
      sink.count++;
    });
  }
  await room.getHistory();
  let accepted: Promise<void> = Promise.resolve();
  for (let i = 0; i < messages; i++) {
    accepted = room.message('u0', 'x');
    if ((i & 1023) === 1023) await accepted;
  }
  await room.getHistory();
  await room.close();
  return sinks.reduce((sum, s) => sum + s.count, 0);
}

async function subject(subscribers: number, messages: number): Promise<number> {
  const stream = new Subject<unknown>();
  const sinks: Sink[] = [];
  for (let i = 0; i < subscribers; i++) {
    const sink: Sink = { last: undefined, count: 0 };
    sinks.push(sink);
    stream.subscribe((event) => {
      sink.last = event;
      sink.count++;
    });
  }
  for (let i = 0; i < messages; i++) stream.next({ id: i + 1, type: 'message', message: 'x' });
  return sinks.reduce((sum, s) => sum + s.count, 0);
}

async function emitter(subscribers: number, messages: number): Promise<number> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const sinks: Sink[] = [];
  for (let i = 0; i < subscribers; i++) {
    const sink: Sink = { last: undefined, count: 0 };
    sinks.push(sink);
    events.on('event', (event: unknown) => {
      sink.last = event;
      sink.count++;
    });
  }
  for (let i = 0; i < messages; i++) events.emit('event', { id: i + 1, type: 'message', message: 'x' });
  return sinks.reduce((sum, s) => sum + s.count, 0);
}

const contenders = { hub, subject, emitter };
const name = flagValue('contender', 'hub') as keyof typeof contenders;
const run = contenders[name];
if (run === undefined) throw new Error(`No contender ${name}`);
const subscribers = Number(flagValue('subscribers', '1'));
const messages = Number(flagValue('messages', '100000'));
// `--also=emitter,subject`: warm those up in this process too, as the bench's own process does.
const also = flagValue('also', '').split(',').filter((n) => n !== '') as (keyof typeof contenders)[];
// `--warmup=N`: messages per warm-up run (20k by default; fewer keeps S = 1000 affordable).
const warmup = Number(flagValue('warmup', '20000'));
for (let round = 0; round < 2; round++) {
  for (const other of also) await contenders[other](subscribers, warmup);
  await run(subscribers, warmup);
}
const delivered = await run(subscribers, messages);
if (delivered !== subscribers * messages) throw new Error(`Lost events: ${delivered}/${subscribers * messages}`);
console.log(`${name} S=${subscribers}: ${messages} messages, ${delivered} delivered`);
