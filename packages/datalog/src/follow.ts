import { closeSync, fstatSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HubEvent } from '@msghub/messagehub';
import { LogNotFoundError, LogOptionError } from './errors.js';
import { LineSplitter, matches, type EventFilter } from './line-parser.js';
import { inodeOf, listRotated } from './log-files.js';
import { describe, integerOption } from './options.js';
import { checkReadOptions, openForRead, readToEnd } from './reader.js';

/** Options of {@link followLog}. */
export interface FollowLogOptions extends EventFilter {
  /** Only events of this room. @default every room */
  readonly room?: string;
  /** Only events with an id greater than this (in each room). @default 0 */
  readonly since?: number;
  /** Start with at most this many of the matching events already in the file. @default Infinity */
  readonly lines?: number;
  /** Milliseconds between looks for new lines. @default 100 */
  readonly pollInterval?: number;
  /** Ends the iteration (without an error) when aborted. */
  readonly signal?: AbortSignal;
}

interface Followed {
  fd: number;
  ino: number;
  splitter: LineSplitter;
  position: number;
}

function openFollowed(file: string): Followed | undefined {
  const fd = openForRead(file);
  if (fd === undefined) return undefined;
  return { fd, ino: fstatSync(fd).ino, splitter: new LineSplitter(file), position: 0 };
}

/** Waits `ms`; resolves false instead when `signal` aborts. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads, oldest first, the rotated files of `file` newer than the one with inode `ino`: those
 * filled and rotated away between two looks. None when that file is no longer among them.
 */
async function readRotatedAfter<T>(file: string, ino: number, emit: (event: HubEvent<T>) => void): Promise<void> {
  const rotated = await listRotated(file);
  let from = rotated.length;
  for (let i = rotated.length - 1; i >= 0; i--) {
    const candidate = rotated[i];
    if (candidate !== undefined && (await inodeOf(candidate.path)) === ino) {
      from = i + 1;
      break;
    }
  }
  for (const { path } of rotated.slice(from)) {
    const missed = openFollowed(path);
    if (missed === undefined) continue;
    try {
      await readToEnd(missed.fd, missed.splitter, 0, emit);
    } finally {
      closeSync(missed.fd);
    }
  }
}

async function* followFile<T>(
  file: string,
  options: FollowLogOptions,
  lines: number,
  interval: number,
): AsyncGenerator<HubEvent<T>, void, undefined> {
  let current = openFollowed(file);
  if (current === undefined) throw new LogNotFoundError(`No log file at ${file}`, file);
  const batch: HubEvent<T>[] = [];
  // Only the events already in the file are cut to the last `lines`; every later one is yielded.
  const keepLast = (event: HubEvent<T>): void => {
    if (!matches(event, options)) return;
    batch.push(event);
    if (batch.length > 2 * lines) batch.splice(0, batch.length - lines);
  };
  const keep = (event: HubEvent<T>): void => {
    if (matches(event, options)) batch.push(event);
  };
  try {
    current.position = await readToEnd(current.fd, current.splitter, 0, keepLast);
    if (lines > 0) yield* batch.slice(-lines);
    batch.length = 0;
    while (await pause(interval, options.signal)) {
      current.position = await readToEnd(current.fd, current.splitter, current.position, keep);
      yield* batch;
      batch.length = 0;
      const ino = await inodeOf(file);
      if (ino === undefined || ino === current.ino) continue;
      // Rotated: the old file got its last lines before the rename; take them, then those of any
      // file rotated after it since the last look, then switch.
      current.position = await readToEnd(current.fd, current.splitter, current.position, keep);
      await readRotatedAfter(file, current.ino, keep);
      yield* batch;
      batch.length = 0;
      const next = openFollowed(file);
      if (next === undefined) continue;
      closeSync(current.fd);
      current = next;
    }
  } finally {
    closeSync(current.fd);
  }
}

/**
 * Follows a log like `tail -f`: yields the matching events already in the file (the last `lines`
 * of them), then each new one as it is appended, across rotations, until `signal` aborts.
 *
 * @param file the log file's path
 * @returns an async iterable; iterating throws {@link LogNotFoundError} when the file does not exist
 * @throws {LogOptionError} for a malformed option
 */
export function followLog<T = string>(file: string, options: FollowLogOptions = {}): AsyncIterable<HubEvent<T>> {
  checkReadOptions(options);
  const lines = integerOption('lines', options.lines, 0, Infinity, true);
  const interval = integerOption('pollInterval', options.pollInterval, 1, 100);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new LogOptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(options.signal)}`);
  }
  return { [Symbol.asyncIterator]: () => followFile<T>(file, options, lines, interval) };
}
