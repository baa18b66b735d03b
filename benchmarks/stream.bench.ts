/**
 * Streaming requests over TCP loopback: items per second a client receives from one
 * `client.stream(op)` whose server handler is an async generator, against what a user would do
 * without streams, measured in the same run: page through the same items with `client.request`,
 * 100 and 1000 items per page. Server and client share one process (both are on the same 2 cores
 * either way). Every wait is bounded; the table and ratios go to stdout and
 * benchmarks/results/stream.json.
 *
 *   node --import tsx benchmarks/stream.bench.ts [--quick] [--rounds N]
 */
import { createClient, type MsghubClient } from '@msghub/client/node';
import { HubServer } from '@msghub/transport';
import { lastValueFrom, count as countItems } from 'rxjs';
import { cliOptions, formatRate, formatRatio, median, printTable, progress, progressDone, writeResults } from './lib.js';

const { quick, rounds: roundsOption } = cliOptions();
const rounds = roundsOption ?? (quick ? 1 : 3);
const ITEMS = quick ? 50_000 : 200_000;
const WAIT_MS = 60_000;

/** One item as the application sends it: a small object, about 90 bytes of JSON. */
function item(n: number): { n: number; text: string; at: number } {
  return { n, text: 'lorem ipsum dolor sit amet, consectetur', at: 1_795_377_865_818 + n };
}

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function streamed(client: MsghubClient): Promise<number> {
  const started = performance.now();
  const received = await bounded(lastValueFrom(client.stream('items', ITEMS).pipe(countItems())), 'the stream');
  if (received !== ITEMS) throw new Error(`stream delivered ${received} of ${ITEMS}`);
  return ITEMS / ((performance.now() - started) / 1000);
}

async function paged(client: MsghubClient, pageSize: number): Promise<number> {
  const started = performance.now();
  let received = 0;
  for (let from = 0; from < ITEMS; from += pageSize) {
    const page = await bounded(client.request<unknown[]>('page', { from, size: pageSize }), 'a page');
    received += page.length;
  }
  if (received !== ITEMS) throw new Error(`pages delivered ${received} of ${ITEMS}`);
  return ITEMS / ((performance.now() - started) / 1000);
}

const server = new HubServer({ trustClientUser: true, rateLimit: false });
server.handle('items', async function* (input) {
  const total = Number(input);
  for (let n = 0; n < total; n++) yield item(n);
});
server.handle('page', (input) => {
  const { from, size } = input as { from: number; size: number };
  const page = [];
  for (let n = from; n < Math.min(from + size, ITEMS); n++) page.push(item(n));
  return page;
});
const { tcp } = await server.listen({ tcp: { port: 0 } });
const client = createClient({ url: `tcp://127.0.0.1:${tcp!.port}`, user: 'bench', requestTimeoutMs: WAIT_MS });

const systems = [
  { name: 'client.stream (async generator)', run: () => streamed(client) },
  { name: 'client.request, 1000 items per page', run: () => paged(client, 1000) },
  { name: 'client.request, 100 items per page', run: () => paged(client, 100) },
] as const;
const rates = new Map<string, number[]>(systems.map((s) => [s.name, []]));
try {
  // A warm-up round that is not counted: JIT and socket buffers.
  for (const system of systems) await system.run();
  for (let round = 0; round < rounds; round++) {
    for (const system of systems) {
      progress(`round ${round + 1}/${rounds}: ${system.name}`);
      rates.get(system.name)!.push(await system.run());
    }
  }
} finally {
  progressDone();
  await client.close();
  await server.close();
}
const baseline = median(rates.get(systems[1].name)!);
const table = printTable(
  `Items per second to one client over TCP loopback, ${ITEMS} items of ~90 B JSON (median of ${rounds})`,
  ['system', 'items/s', 'vs 1000-item pages'],
  systems.map((s) => {
    const rate = median(rates.get(s.name)!);
    return [s.name, formatRate(rate), formatRatio(rate / baseline)];
  }),
);
console.log(`results: ${writeResults('stream', { items: ITEMS, rounds, table, rates: Object.fromEntries(rates) })}`);
