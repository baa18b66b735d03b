/**
 * Runs every benchmark (each `*.bench.ts` in this folder, one child process each, in name order).
 *
 *   pnpm bench                 all of them
 *   pnpm bench hub             only those whose file name contains "hub"
 *   pnpm bench -- --quick      fewer rounds, for a smoke run
 *
 * hub-fanout (the room vs EventEmitter and Subject), datalog (the file log vs pino), startup (a
 * FileStore's restart vs a full scan of the log, and its commit cost vs the MemoryStore),
 * transport (WebSocket broadcast vs ws and Socket.IO), transport-scale (the same from 100 to 10,000
 * clients, and memory per idle connection), stream (a streaming request vs paged requests), cluster.
 * `pnpm bench:charts` draws the results as SVG.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const passThrough = args.filter((a) => !filters.includes(a));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();

if (files.length === 0) {
  console.error(`No benchmark matches ${filters.join(', ')}`);
  process.exit(1);
}
let failed = 0;
for (const [index, file] of files.entries()) {
  const name = file.replace('.bench.ts', '');
  console.log(`\n## ${name}\n`);
  const { status } = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, file), ...passThrough], {
    stdio: 'inherit',
    // The progress line names the benchmark and where it is in the whole run.
    env: { ...process.env, MSGHUB_BENCH_NAME: `${name} ${index + 1}/${files.length}` },
  });
  if (status !== 0) {
    failed++;
    console.error(`${file} exited with ${status}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
