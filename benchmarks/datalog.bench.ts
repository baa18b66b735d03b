/**
 * The file log: events per second written to a file under each fsync policy, with pino (async
 * sonic-boom) writing the same event objects to a file as the baseline, and the hub's fan-out with
 * the log attached vs without, all in the same run. Every run checks that the file holds every event.
 *
 *   node --import tsx benchmarks/datalog.bench.ts [--quick] [--rounds N]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MessageHub, type HubEvent, type HubListener, type ListenerHandle } from '@msghub/messagehub';
import { DataLog, type FsyncPolicy } from '@msghub/datalog';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, writeResults } from './lib.js';

const { quick, rounds: roundsOption } = cliOptions();
const ROUNDS = roundsOption ?? (quick ? 1 : 5);
const EVENTS = quick ? 50_000 : 300_000;
/** fsync per event is bounded by the disk: cap it by count and by time. */
const EVENT_POLICY_MAX = quick ? 500 : 3_000;
const EVENT_POLICY_SECONDS = quick ? 0.5 : 2;
/** Sessions per room, and messages per run for each (about 10M deliveries). */
const FANOUT: readonly (readonly [subscribers: number, messages: number])[] = quick
  ? [[100, 20_000]]
  : [[100, 100_000], [1000, 10_000]];

const dir = mkdtempSync(join(tmpdir(), 'msghub-bench-datalog-'));
let fileNo = 0;
const nextFile = (): string => join(dir, `run-${++fileNo}.log`);

/** ~130-byte message events, as a chat room emits them. */
function makeEvents(count: number): HubEvent[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    chatroomId: 'bench',
    type: 'message' as const,
    userId: `user-${i % 100}`,
    message: `hello from the benchmark, message number ${i}`,
    unixTime: now + i,
  }));
}

function countLines(file: string): number {
  const text = readFileSync(file, 'utf8');
  let lines = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

function check(file: string, expected: number, what: string): void {
  const lines = countLines(file);
  if (lines !== expected) throw new Error(`${what}: the file holds ${lines} lines, expected ${expected}`);
}

/** Drives the log's listener directly, as the hub would, and awaits it when it asks. */
async function runDatalog(events: HubEvent[], fsync: FsyncPolicy): Promise<{ seconds: number; events: number }> {
  const file = nextFile();
  const log = new DataLog({ file, fsync });
  let listener: HubListener | undefined;
  const room = {
    chatroomId: 'bench',
    attachListener(l: HubListener): ListenerHandle {
      listener = l;
      return { detach: async () => undefined };
    },
  };
  log.attach(room);
  const target = listener as HubListener;
  const limit = fsync === 'event' ? Math.min(events.length, EVENT_POLICY_MAX) : events.length;
  const start = performance.now();
  const deadline = start + (fsync === 'event' ? EVENT_POLICY_SECONDS * 1000 : Infinity);
  let written = 0;
  for (; written < limit; written++) {
    const wait = target.next(events[written] as HubEvent);
    if (wait !== undefined) await wait;
    if ((written & 63) === 63 && performance.now() > deadline) {
      written++;
      break;
    }
  }
  await target.complete?.();
  const seconds = (performance.now() - start) / 1000;
  await log.close();
  check(file, written, `datalog ${fsync}`);
  return { seconds, events: written };
}

async function runPino(events: HubEvent[]): Promise<{ seconds: number; events: number }> {
  const file = nextFile();
  const destination = pino.destination({ dest: file, sync: false });
  const logger = pino(destination);
  const start = performance.now();
  for (const event of events) logger.info(event);
  await new Promise<void>((resolve, reject) => destination.flush((error) => (error ? reject(error) : resolve())));
  const seconds = (performance.now() - start) / 1000;
  await new Promise<void>((resolve) => {
    destination.once('close', () => resolve());
    destination.end();
  });
  check(file, events.length, 'pino');
  return { seconds, events: events.length };
}

/** Delivered events/s from one publisher to S sessions, through close (which flushes the log). */
async function runFanout(subscribers: number, messages: number, fsync: FsyncPolicy | undefined): Promise<{ seconds: number; events: number }> {
  const hub = new MessageHub<string>({ chatroomId: 'bench' });
  const file = nextFile();
  const log = fsync === undefined ? undefined : new DataLog({ file, fsync });
  log?.attach(hub);
  let delivered = 0;
  let last: unknown;
  for (let i = 0; i < subscribers; i++) {
    hub.add(`u${i}`, 's').subscribe((event) => {
      if (event.type !== 'message') return;
      last = event;
      delivered++;
    });
  }
  await hub.getHistory();
  const start = performance.now();
  let accepted: Promise<void> = Promise.resolve();
  for (let i = 0; i < messages; i++) {
    accepted = hub.message('u0', 'x');
    if ((i & 1023) === 1023) await accepted;
  }
  await hub.close();
  const seconds = (performance.now() - start) / 1000;
  if (last === undefined || delivered !== subscribers * messages) throw new Error(`fan-out lost events: ${delivered}`);
  if (log !== undefined) {
    await log.close();
    check(file, hub.lastEventId, `fan-out with log ${fsync}`);
  }
  return { seconds, events: delivered };
}

/** Runs each variant once per round, interleaved so that load drifts hit them alike; medians per variant. */
async function measureInterleaved(variants: Record<string, () => Promise<{ seconds: number; events: number }>>): Promise<Record<string, number>> {
  const rates: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [label, run] of Object.entries(variants)) {
      progress(`${label}, round ${round}/${ROUNDS}`);
      const { seconds, events } = await run();
      (rates[label] ??= []).push(events / seconds);
      rmSync(join(dir, `run-${fileNo}.log`), { force: true });
      (globalThis as { gc?: () => void }).gc?.();
    }
  }
  return Object.fromEntries(Object.entries(rates).map(([label, values]) => [label, median(values)]));
}

async function main(): Promise<void> {
  const events = makeEvents(EVENTS);
  try {
    const write = await measureInterleaved({
      pino: () => runPino(events),
      never: () => runDatalog(events, 'never'),
      batch: () => runDatalog(events, 'batch'),
      event: () => runDatalog(events, 'event'),
    });
    const pinoRate = write.pino as number;
    const logRates: Record<FsyncPolicy, number> = { never: write.never ?? 0, batch: write.batch ?? 0, event: write.event ?? 0 };
    const fanout: { subscribers: number; messages: number; bare: number; never: number; batch: number }[] = [];
    for (const [subscribers, messages] of FANOUT) {
      const rates = await measureInterleaved({
        [`S=${subscribers} no log`]: () => runFanout(subscribers, messages, undefined),
        [`S=${subscribers} fsync=never`]: () => runFanout(subscribers, messages, 'never'),
        [`S=${subscribers} fsync=batch`]: () => runFanout(subscribers, messages, 'batch'),
      });
      const [bare = 0, never = 0, batch = 0] = Object.values(rates);
      fanout.push({ subscribers, messages, bare, never, batch });
    }
    progressDone();

    const writeTable = printTable(
      `JSON-lines log to a file (${EVENTS} events; fsync=event capped at ${EVENT_POLICY_MAX} or ${EVENT_POLICY_SECONDS}s), median of ${ROUNDS}`,
      ['writer', 'events/s', 'vs pino'],
      [
        ['pino 10 (async sonic-boom), baseline', formatRate(pinoRate), formatRatio(1)],
        ...(['never', 'batch', 'event'] as const).map((p) => [`datalog fsync=${p}`, formatRate(logRates[p]), formatRatio(logRates[p] / pinoRate)]),
      ],
    );
    const fanoutTable = printTable(
      `Hub fan-out through close(), delivered events/s, median of ${ROUNDS}`,
      ['sessions (messages)', 'no log', 'log fsync=never', 'ratio', 'log fsync=batch', 'ratio'],
      fanout.map((f) => [
        `S=${f.subscribers} (${f.messages})`,
        formatRate(f.bare),
        formatRate(f.never),
        formatRatio(f.never / f.bare),
        formatRate(f.batch),
        formatRatio(f.batch / f.bare),
      ]),
    );
    const s100 = fanout[0] as (typeof fanout)[number];
    const targets = {
      neverAtLeastPino: logRates.never >= pinoRate,
      attachedAtLeast07AtS100: s100.batch / s100.bare >= 0.7 && s100.never / s100.bare >= 0.7,
    };
    console.log(
      `targets: fsync=never >= pino: ${targets.neverAtLeastPino ? 'met' : 'NOT met'}; ` +
        `hub with log >= 0.7x at S=100: ${targets.attachedAtLeast07AtS100 ? 'met' : 'NOT met'}`,
    );
    const file = writeResults('datalog', {
      quick,
      rounds: ROUNDS,
      tables: [writeTable, fanoutTable],
      write: { events: EVENTS, pino: pinoRate, ...logRates },
      fanout,
      targets,
    });
    console.log(`results: ${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
