#!/usr/bin/env node
// Runs every test of the workspace and ends with the line `N passed, N failed[, N skipped]`.
// Exit status: 0 only when nothing failed. Extra arguments go to mocha (e.g. a file or --grep).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(command, args) {
  return spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env }).status ?? 1;
}

function finish(passed, failed, skipped) {
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  process.exit(failed > 0 ? 1 : 0);
}

// Packages import each other through their built output.
if (run(bin('tsc'), ['-b']) !== 0) {
  console.error('build failed');
  finish(0, 1, 0);
}

const dir = mkdtempSync(join(tmpdir(), 'msghub-test-'));
const statsFile = join(dir, 'stats.json');
process.env.MSGHUB_TEST_STATS = statsFile;
// A directory argument means every *.test.ts below it.
const isDirectory = (path) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
const args = process.argv.slice(2).map((arg) => (isDirectory(arg) ? `${arg.replace(/\/$/, '')}/**/*.test.ts` : arg));
// Without file arguments, run every package's tests and the repository's own (test/: the README's
// commands and the examples the docs show).
const hasFiles = args.some((arg, i) => !arg.startsWith('-') && !(args[i - 1] ?? '').match(/^--(grep|fgrep|timeout|reporter)$/));
const status = run(bin('mocha'), hasFiles ? args : [...args, 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts']);
let stats;
try {
  stats = JSON.parse(readFileSync(statsFile, 'utf8'));
} catch {
  // Mocha died before reporting: count the run itself as one failure.
  stats = { passed: 0, failed: 1, skipped: 0 };
}
rmSync(dir, { recursive: true, force: true });
if (status !== 0 && stats.failed === 0) stats.failed = 1;
finish(stats.passed, stats.failed, stats.skipped);
