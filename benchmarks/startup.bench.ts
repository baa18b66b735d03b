/**
 * Restart and commit cost of the file store, each against its baseline in the same run:
 *
 * 1. Startup: from `new FileStore` to 100 rooms opened (epoch, last id and a history of 1024
 *    each) over a log of 200k and 2M events (~140 B each, one event per batch, the rooms
 *    interleaved: the most runs per room there can be), vs today's restart, a full scan of the
 *    same log with `readLog` that keeps each room's last id and latest 1024 events (what the main
 *    job's RoomMemory does). Also the store with its index deleted (it rebuilds from the log).
 * 2. Fan-out: one publisher, S sessions, delivered events/s with the room's store a
 *    `FileStore` (fsync 'batch': each batch written and synced before anyone sees it) vs the
 *    default `MemoryStore`; also a `MemoryStore` with `encode: true` (the same JSON encoding per
 *    event as with the file store, no disk) and a `FileStore` with fsync 'never' (written, not
 *    synced), to tell the costs apart.
 *
 *   node --import tsx benchmarks/startup.bench.ts [--quick] [--rounds N]
 */
import { mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, MessageHub, type HubEvent, type RoomStore } from '@msghub/messagehub';
import { FileStore, readLog } from '@msghub/datalog';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, writeResults } from './lib.js';

const { quick, rounds: roundsOption } = cliOptions();
const ROUNDS = roundsOption ?? (quick ? 1 : 3);
const ROOMS = 100;
const HISTORY = 1024;
const SIZES = quick ? [200_000] : [200_000, 2_000_000];
const FANOUT: readonly (readonly [subscribers: number, messages: number])[] = quick
  ? [[100, 20_000], [1000, 2_000]]
  : [[100, 100_000], [1000, 10_000]];

const dir = mkdtempSync(join(tmpdir(), 'msghub-bench-startup-'));
const rooms = Array.from({ length: ROOMS }, (_, i) => `room-${String(i).padStart(3, '0')}`);

/** A ~140-byte message event, as a chat room emits it. */
function event(room: string, id: number, n: number): HubEvent {
  return { id, chatroomId: room, type: 'message', userId: `user-${n % 50}`, message: `hello from the benchmark, message ${n}`, unixTime: 1_796_000_000_000 + n };
}

/** Writes `count` events over the rooms through a FileStore (one event per batch, rooms interleaved) and closes it. */
async function generate(file: string, count: number): Promise<void> {
  const store = new FileStore({ file, fsync: 'never', checkpointBytes: Infinity });
  await Promise.all(rooms.map((room) => store.open(room, { historySize: HISTORY })));
  const perRoom = Math.floor(count / ROOMS);
  const CHUNK = 200;
  for (let from = 1; from <= perRoom; from += CHUNK) {
    const pending: Promise<void>[] = [];
    for (let id = from; id < from + CHUNK && id <= perRoom; id++) {
      for (const [r, room] of rooms.entries()) {
        const e = event(room, id, id * ROOMS + r);
        pending.push(store.append(room, [e], [JSON.stringify(e)]));
      }
    }
    await Promise.all(pending);
    progress(`generating ${count} events: ${Math.min(from + CHUNK - 1, perRoom) * ROOMS}`);
  }
  for (const room of rooms) await store.release(room);
  await store.close();
}

/** Opens every room on a new FileStore; returns the seconds from the constructor to the last open. */
async function openAll(file: string, expectedLast: number): Promise<number> {
  const start = performance.now();
  const store = new FileStore({ file, fsync: 'batch' });
  const states = await Promise.all(rooms.map((room) => store.open(room, { historySize: HISTORY })));
  const seconds = (performance.now() - start) / 1000;
  for (const state of states) {
    if (state.lastEventId !== expectedLast || state.history.length !== Math.min(HISTORY, expectedLast)) {
      throw new Error(`FileStore opened a room at ${state.lastEventId} with ${state.history.length} events of history`);
    }
  }
  await store.close();
  return seconds;
}

/** Today's restart: one pass of readLog keeping each room's last id and latest events. */
async function fullScan(file: string, expectedLast: number): Promise<number> {
  const start = performance.now();
  const memory = new Map<string, { lastEventId: number; history: HubEvent[] }>();
  for await (const e of readLog(file)) {
    let room = memory.get(e.chatroomId);
    if (room === undefined || e.id <= room.lastEventId) memory.set(e.chatroomId, (room = { lastEventId: 0, history: [] }));
    room.lastEventId = e.id;
    room.history.push(e);
    if (room.history.length >= 2 * HISTORY) room.history.splice(0, room.history.length - HISTORY);
  }
  const seconds = (performance.now() - start) / 1000;
  for (const room of rooms) if (memory.get(room)?.lastEventId !== expectedLast) throw new Error(`the full scan found ${room} at ${memory.get(room)?.lastEventId}`);
  return seconds;
}

interface StartupResult {
  readonly events: number;
  readonly megabytes: number;
  readonly indexKiB: number;
  readonly scan: number;
  readonly store: number;
  readonly rebuild: number;
}

async function measureStartup(count: number): Promise<StartupResult> {
  const file = join(dir, `startup-${count}.log`);
  await generate(file, count);
  const last = Math.floor(count / ROOMS);
  const megabytes = statSync(file).size / 2 ** 20;
  const indexKiB = statSync(`${file}.index`).size / 1024;
  const scan: number[] = [];
  const store: number[] = [];
  const rebuild: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`startup ${count} events, round ${round}/${ROUNDS}: full scan`);
    (globalThis as { gc?: () => void }).gc?.();
    scan.push(await fullScan(file, last));
    progress(`startup ${count} events, round ${round}/${ROUNDS}: FileStore`);
    (globalThis as { gc?: () => void }).gc?.();
    store.push(await openAll(file, last));
    progress(`startup ${count} events, round ${round}/${ROUNDS}: FileStore without its index`);
    unlinkSync(`${file}.index`);
    (globalThis as { gc?: () => void }).gc?.();
    // The store writes the index again (on close), so the next round starts with one.
    rebuild.push(await openAll(file, last));
  }
  rmSync(file, { force: true });
  rmSync(`${file}.index`, { force: true });
  return { events: count, megabytes, indexKiB, scan: median(scan), store: median(store), rebuild: median(rebuild) };
}

/** Delivered events/s from one publisher to S sessions, until the room has delivered the last message. */
async function fanout(subscribers: number, messages: number, store: () => RoomStore, encode: boolean): Promise<number> {
  const roomStore = store();
  const hub = new MessageHub<string>({ chatroomId: 'bench', store: roomStore, encode });
  let delivered = 0;
  let last: unknown;
  for (let i = 0; i < subscribers; i++) {
    hub.add(`u${i}`, 's').subscribe((e) => {
      if (e.type !== 'message') return;
      last = e;
      delivered++;
    });
  }
  await hub.getHistory();
  const start = performance.now();
  let accepted: Promise<void> = Promise.resolve();
  for (let i = 0; i < messages; i++) {
    accepted = hub.message('u0', 'x');
    // A publisher that honours backpressure: wait for the room every 1024 messages.
    if ((i & 1023) === 1023) await accepted;
  }
  await hub.getHistory(); // answered after every message above was committed and delivered
  const seconds = (performance.now() - start) / 1000;
  await hub.close();
  if (roomStore instanceof FileStore) await roomStore.close();
  if (last === undefined || delivered !== subscribers * messages) throw new Error(`fan-out lost events: ${delivered}/${subscribers * messages}`);
  return delivered / seconds;
}

let fileNo = 0;

async function measureFanout(subscribers: number, messages: number): Promise<Record<string, number>> {
  const variants: Record<string, () => Promise<number>> = {
    memory: () => fanout(subscribers, messages, () => new MemoryStore(), false),
    memoryEncoded: () => fanout(subscribers, messages, () => new MemoryStore(), true),
    fileNever: () => fanout(subscribers, messages, () => new FileStore({ file: join(dir, `fanout-${++fileNo}.log`), fsync: 'never' }), true),
    file: () => fanout(subscribers, messages, () => new FileStore({ file: join(dir, `fanout-${++fileNo}.log`), fsync: 'batch' }), true),
  };
  // Warm up each variant once so the JIT has settled before measuring.
  for (const run of Object.values(variants)) await run();
  const rates: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [label, run] of Object.entries(variants)) {
      progress(`fan-out S=${subscribers}, round ${round}/${ROUNDS}: ${label}`);
      (globalThis as { gc?: () => void }).gc?.();
      (rates[label] ??= []).push(await run());
      rmSync(join(dir, `fanout-${fileNo}.log`), { force: true });
      rmSync(join(dir, `fanout-${fileNo}.log.index`), { force: true });
    }
  }
  return Object.fromEntries(Object.entries(rates).map(([label, values]) => [label, median(values)]));
}

async function main(): Promise<void> {
  try {
    const startup: StartupResult[] = [];
    for (const count of SIZES) startup.push(await measureStartup(count));
    const fanoutRates: { subscribers: number; messages: number; rates: Record<string, number> }[] = [];
    for (const [subscribers, messages] of FANOUT) fanoutRates.push({ subscribers, messages, rates: await measureFanout(subscribers, messages) });
    progressDone();

    const seconds = (s: number): string => `${s.toFixed(s < 1 ? 3 : 2)} s`;
    const startupTable = printTable(
      `Startup: ${ROOMS} rooms opened with a history of ${HISTORY} each, median of ${ROUNDS}`,
      ['log', 'full scan (readLog), baseline', 'FileStore', 'vs scan', 'FileStore, index deleted', 'vs scan'],
      startup.map((s) => [
        `${s.events / 1000}k events, ${s.megabytes.toFixed(0)} MiB (index ${s.indexKiB.toFixed(0)} KiB)`,
        seconds(s.scan),
        seconds(s.store),
        formatRatio(s.store / s.scan),
        seconds(s.rebuild),
        formatRatio(s.rebuild / s.scan),
      ]),
    );
    const fanoutTable = printTable(
      `Hub fan-out, delivered events/s, median of ${ROUNDS}`,
      ['sessions (messages)', 'MemoryStore', 'MemoryStore, encode', 'FileStore fsync=never', 'FileStore fsync=batch', 'batch / MemoryStore', 'batch / MemoryStore encode'],
      fanoutRates.map(({ subscribers, messages, rates }) => [
        `S=${subscribers} (${messages})`,
        formatRate(rates.memory ?? 0),
        formatRate(rates.memoryEncoded ?? 0),
        formatRate(rates.fileNever ?? 0),
        formatRate(rates.file ?? 0),
        formatRatio((rates.file ?? 0) / (rates.memory ?? 1)),
        formatRatio((rates.file ?? 0) / (rates.memoryEncoded ?? 1)),
      ]),
    );
    const s100 = fanoutRates[0]?.rates ?? {};
    const targets = {
      startupUnderHalfASecond: startup.every((s) => s.store <= 0.5),
      fanoutAtLeast08AtS100: (s100.file ?? 0) / (s100.memory ?? 1) >= 0.8,
    };
    console.log(`Targets: startup <= 0.5 s at every size: ${targets.startupUnderHalfASecond ? 'met' : 'NOT met'}; ` +
      `fan-out with the FileStore >= 0.8x the MemoryStore at S=100: ${targets.fanoutAtLeast08AtS100 ? 'met' : 'NOT met'}.`);
    const file = writeResults('startup', { rounds: ROUNDS, rooms: ROOMS, history: HISTORY, startup, fanout: fanoutRates, targets, tables: [startupTable, fanoutTable] });
    console.log(`Results: ${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
