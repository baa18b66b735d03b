#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { HubEvent } from '@msghub/messagehub';
import { isDatalogError, type TornLineError } from './errors.js';
import { followLog } from './follow.js';
import { formatEvent } from './pretty.js';
import { readLog } from './reader.js';
import { countEvents, formatStats } from './stats.js';

const HELP = `Usage: msghub-log <command> [options] <file>

Reads msghub event logs (JSON lines written by @msghub/datalog), rotated files included.

Commands:
  tail <file>     print the last events, then follow new ones as they are written (Ctrl-C stops)
  cat <file>      print the events as JSON lines, oldest first
  stats <file>    count the events per type and per room

Options:
  --room <id>     only events of this room
  --since <id>    only events with an id greater than this
  -n, --lines <n> tail: start with the last n events (default 10)
  --json          tail, stats: JSON output instead of text
  --pretty        cat: one readable line per event instead of JSON
  -h, --help      show this help

Exit status: 0 on success, 1 when the log is missing, unreadable or damaged, 2 on a usage error.
A file that ends in a partial line (a write cut short by a crash) is read up to it, with a warning.
`;

/** A bad command line: printed with a pointer to --help, exit status 2. */
class UsageError extends Error {}

interface Command {
  readonly name: 'tail' | 'cat' | 'stats';
  readonly file: string;
  readonly room: string | undefined;
  readonly since: number | undefined;
  readonly lines: number;
  readonly json: boolean;
  readonly pretty: boolean;
}

function integerArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number)) {
    throw new UsageError(`--${name} expects a whole number, got ${JSON.stringify(value)}`);
  }
  return number;
}

/** Parses argv into a command, or returns undefined after printing help. */
function parseCommand(argv: string[]): Command | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        room: { type: 'string' },
        since: { type: 'string' },
        lines: { type: 'string', short: 'n' },
        json: { type: 'boolean' },
        pretty: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, file, ...extra] = positionals;
  if (values.help === true || name === 'help' || name === undefined) return undefined;
  if (name !== 'tail' && name !== 'cat' && name !== 'stats') throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  if (file === undefined) throw new UsageError(`${name} needs a log file`);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (values.room === '') throw new UsageError('--room expects a room id');
  return {
    name,
    file,
    room: values.room,
    since: integerArg('since', values.since),
    lines: integerArg('lines', values.lines) ?? 10,
    json: values.json === true,
    pretty: values.pretty === true,
  };
}

/** Buffers stdout writes and respects backpressure. */
class Output {
  #chunk = '';

  async line(text: string): Promise<void> {
    this.#chunk += `${text}\n`;
    if (this.#chunk.length >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    const chunk = this.#chunk;
    this.#chunk = '';
    if (chunk.length > 0 && !process.stdout.write(chunk)) {
      await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
    }
  }
}

function warnTorn(torn: TornLineError): void {
  process.stderr.write(`msghub-log: warning: ${torn.message} (skipped)\n`);
}

function filterOf(command: Command): { room?: string; since?: number } {
  return {
    ...(command.room === undefined ? {} : { room: command.room }),
    ...(command.since === undefined ? {} : { since: command.since }),
  };
}

async function runCat(command: Command, out: Output): Promise<void> {
  for await (const event of readLog<unknown>(command.file, { ...filterOf(command), onTorn: warnTorn })) {
    await out.line(command.pretty ? formatEvent(event) : JSON.stringify(event));
  }
}

async function runTail(command: Command, out: Output): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const events = followLog<unknown>(command.file, { ...filterOf(command), lines: command.lines, signal: controller.signal });
  const show = (event: HubEvent<unknown>): string => (command.json ? JSON.stringify(event) : formatEvent(event));
  for await (const event of events) {
    await out.line(show(event));
    // Following is interactive: each event shows as soon as it is read.
    await out.flush();
  }
}

async function runStats(command: Command, out: Output): Promise<void> {
  const stats = await countEvents(readLog<unknown>(command.file, { ...filterOf(command), onTorn: warnTorn }));
  await out.line(command.json ? JSON.stringify(stats) : formatStats(command.file, stats));
}

function fail(message: string, status: number): void {
  process.stderr.write(`msghub-log: ${message}\n`);
  process.exitCode = status;
}

function stdoutOnError(error: NodeJS.ErrnoException): void {
  // A closed pipe (`msghub-log cat big.log | head`) is a normal way to stop reading.
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
}

async function main(argv: string[]): Promise<void> {
  process.stdout.on('error', stdoutOnError);
  const out = new Output();
  try {
    const command = parseCommand(argv);
    if (command === undefined) {
      process.stdout.write(HELP);
      return;
    }
    if (command.name === 'cat') await runCat(command, out);
    else if (command.name === 'tail') await runTail(command, out);
    else await runStats(command, out);
    await out.flush();
  } catch (error) {
    await out.flush();
    if (error instanceof UsageError) fail(`${error.message}\nTry 'msghub-log --help'.`, 2);
    else if (isDatalogError(error)) fail(`${error.message} [${error.code}]`, 1);
    else throw error;
  }
}

await main(process.argv.slice(2));
