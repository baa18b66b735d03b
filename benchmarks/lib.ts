/**
 * Shared helpers for the benchmarks: rounds with a progress line, medians, a stdout table and a
 * JSON results file per benchmark in benchmarks/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The value at quantile `q` (0..1) of `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

/**
 * Progress of the running benchmark on stderr: on a terminal one line rewritten in place (which
 * benchmark, which step, elapsed time and, once {@link progressPlan} told how many steps there are,
 * an estimate of the time left), refreshed every second; otherwise (CI logs, files) one plain line
 * per step. `pnpm bench` names the benchmark through MSGHUB_BENCH_NAME ("transport 4/6").
 */
const progressState = {
  bench: process.env['MSGHUB_BENCH_NAME'] ?? (process.argv[1] ?? 'bench').replace(/^.*[\\/]/, '').replace(/\.bench\.[tj]s$/, ''),
  started: performance.now(),
  total: 0,
  steps: 0,
  /** When the current step started, and how long the finished ones took. */
  stepStarted: 0,
  stepsSeconds: 0,
  label: '',
  timer: undefined as ReturnType<typeof setInterval> | undefined,
};

/** Announces how many `progress()` steps this run will take, so the line can show an ETA. */
export function progressPlan(totalSteps: number): void {
  progressState.total = totalSteps;
}

/** Starts a step called `label` (the previous one ends here). */
export function progress(label: string): void {
  const now = performance.now();
  if (progressState.steps > 0) progressState.stepsSeconds += (now - progressState.stepStarted) / 1000;
  progressState.steps++;
  progressState.stepStarted = now;
  progressState.label = label;
  if (process.stderr.isTTY) {
    progressState.timer ??= setInterval(drawProgress, 1000).unref();
    drawProgress();
  } else {
    process.stderr.write(`${progressLine()}\n`);
  }
}

export function progressDone(): void {
  if (progressState.timer !== undefined) clearInterval(progressState.timer);
  progressState.timer = undefined;
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  else if (progressState.steps > 0) process.stderr.write(`[${progressState.bench}] done in ${formatDuration((performance.now() - progressState.started) / 1000)}\n`);
}

function drawProgress(): void {
  const width = Math.max(20, (process.stderr.columns || 100) - 1);
  process.stderr.write(`\r\x1b[2K${progressLine().slice(0, width)}`);
}

function progressLine(): string {
  const { bench, total, steps, label, stepsSeconds } = progressState;
  const elapsed = (performance.now() - progressState.started) / 1000;
  const parts = [`[${bench}] ${label}`];
  if (total > 0) parts.push(`step ${Math.min(steps, total)}/${total}`);
  parts.push(`${formatDuration(elapsed)} elapsed`);
  // From the mean of the finished steps; the current one is counted as started, not done.
  const finished = steps - 1;
  if (total >= steps && finished > 0) {
    const intoStep = (performance.now() - progressState.stepStarted) / 1000;
    parts.push(`ETA ${formatDuration((stepsSeconds / finished) * (total - finished) - intoStep)}`);
  }
  return parts.join(' · ');
}

/** 75 → "1m15s", 3725 → "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Formats a rate as 12.3M / 456k / 789. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(perSecond >= 1e8 ? 0 : 1)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(perSecond >= 1e5 ? 0 : 1)}k`;
  return perSecond.toFixed(0);
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}

/** Prints a markdown table (readable on a terminal, pasteable into docs/benchmarks.md). */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const text = [
    `### ${title}`,
    '',
    line(header),
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
    '',
  ].join('\n');
  console.log(text);
  return text;
}

/** The machine a run happened on, for results files. */
export function machine(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

/** Writes benchmarks/results/<name>.json with the machine, the table text and the raw results. */
export function writeResults(name: string, data: Record<string, unknown>): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify({ benchmark: name, machine: machine(), ...data }, null, 2)}\n`);
  return file;
}

/** `--quick` (fewer rounds and messages) for smoke runs; `--rounds N` overrides the round count. */
export function cliOptions(argv = process.argv.slice(2)): { quick: boolean; rounds: number | undefined } {
  const quick = argv.includes('--quick');
  const at = argv.indexOf('--rounds');
  const rounds = at >= 0 ? Number(argv[at + 1]) : undefined;
  return { quick, rounds: rounds !== undefined && Number.isFinite(rounds) && rounds > 0 ? rounds : undefined };
}

/** The value of a `--key=value` argument, or `fallback` when it is not given. */
export function flagValue(key: string, fallback = '', argv: readonly string[] = process.argv.slice(2)): string {
  const prefix = `--${key}=`;
  const given = argv.find((a) => a.startsWith(prefix));
  return given === undefined ? fallback : given.slice(prefix.length);
}
