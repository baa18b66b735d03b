import { closeSync, fstatSync, openSync, read } from 'node:fs';
import type { HubEvent } from '@msghub/messagehub';
import { Observable } from 'rxjs';
import { LogNotFoundError, LogOptionError, LogReadError, TornLineError } from './errors.js';
import { LineSplitter, matches, type EventFilter } from './line-parser.js';
import { listRotated } from './log-files.js';
import { describe } from './options.js';

/** Options of {@link readLog} and {@link observeLog}. */
export interface ReadLogOptions extends EventFilter {
  /** Only events of this room. @default every room */
  readonly room?: string;
  /** Only events with an id greater than this (in each room). @default 0 */
  readonly since?: number;
  /** Read the rotated files (`<file>.<seq>`, oldest first) before the file itself. @default true */
  readonly rotated?: boolean;
  /** Called for each file that ends in a partial line; the partial line is skipped. */
  readonly onTorn?: (torn: TornLineError) => void;
}

const CHUNK = 256 * 1024;

/** Checks the reader options; throws {@link LogOptionError}. */
export function checkReadOptions(options: ReadLogOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new LogOptionError(`Expected options to be an object, got ${describe(options)}`);
  }
  const { room, since, onTorn } = options;
  if (room !== undefined && (typeof room !== 'string' || room.length === 0)) {
    throw new LogOptionError(`Expected \`room\` to be a non-empty string, got ${describe(room)}`);
  }
  if (since !== undefined && (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)) {
    throw new LogOptionError(`Expected \`since\` to be an integer >= 0, got ${describe(since)}`);
  }
  if (onTorn !== undefined && typeof onTorn !== 'function') {
    throw new LogOptionError(`Expected \`onTorn\` to be a function, got ${describe(onTorn)}`);
  }
}

/** Opens `file` for reading; undefined when it does not exist. */
export function openForRead(file: string): number | undefined {
  try {
    return openSync(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new LogReadError(`Cannot read log file ${file} (${code ?? String(error)})`, file, { cause: error });
  }
}

/** Reads up to `buffer.length` bytes of `file` (open as `fd`) at `position`; rejects with a {@link LogReadError}. */
function readAt(fd: number, buffer: Buffer, position: number, file: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    read(fd, buffer, 0, buffer.length, position, (error, bytes) => {
      if (error === null) resolve(bytes);
      else reject(new LogReadError(`Cannot read log file ${file} (${error.code ?? String(error)})`, file, { cause: error }));
    });
  });
}

/** Reads `fd` from `position` to its current end, passing each complete line's event to `emit`. */
export async function readToEnd<T>(
  fd: number,
  splitter: LineSplitter,
  position: number,
  emit: (event: HubEvent<T>) => void,
): Promise<number> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let at = position;
  for (;;) {
    const bytes = await readAt(fd, buffer, at, splitter.file);
    if (bytes === 0) return at;
    at += bytes;
    splitter.push<T>(buffer.subarray(0, bytes), emit);
  }
}

/** A torn-line report for what `splitter` holds past its last newline. */
export function tornLine(splitter: LineSplitter): TornLineError {
  const { file, offset, pending } = splitter;
  return new TornLineError(`${file} ends in a partial line of ${pending} bytes at offset ${offset}`, file, offset, pending);
}

interface OpenFile {
  readonly path: string;
  readonly fd: number;
}

/**
 * Opens the rotated files (oldest first) and the file itself. Lists the rotated files again after
 * opening the live one, so a rotation in between is neither missed nor read twice.
 */
async function openAll(file: string, rotated: boolean): Promise<OpenFile[]> {
  const opened: OpenFile[] = [];
  const seen = new Set<number>();
  const add = (path: string): void => {
    const fd = openForRead(path);
    if (fd === undefined) return;
    const { ino } = fstatSync(fd);
    if (seen.has(ino)) closeSync(fd);
    else {
      seen.add(ino);
      opened.push({ path, fd });
    }
  };
  try {
    if (rotated) for (const r of await listRotated(file)) add(r.path);
    const live = opened.length;
    add(file);
    if (rotated) {
      const late: OpenFile[] = opened.splice(live);
      for (const r of await listRotated(file)) add(r.path);
      opened.push(...late);
    }
  } catch (error) {
    for (const { fd } of opened) closeSync(fd);
    throw error;
  }
  if (opened.length === 0) throw new LogNotFoundError(`No log file at ${file}`, file);
  return opened;
}

async function* readFiles<T>(file: string, options: ReadLogOptions): AsyncGenerator<HubEvent<T>, void, undefined> {
  const files = await openAll(file, options.rotated ?? true);
  try {
    for (const { path, fd } of files) {
      const splitter = new LineSplitter(path);
      const batch: HubEvent<T>[] = [];
      const keep = (event: HubEvent<T>): void => {
        if (matches(event, options)) batch.push(event);
      };
      const buffer = Buffer.allocUnsafe(CHUNK);
      let at = 0;
      for (;;) {
        const bytes = await readAt(fd, buffer, at, path);
        if (bytes === 0) break;
        at += bytes;
        splitter.push<T>(buffer.subarray(0, bytes), keep);
        yield* batch;
        batch.length = 0;
      }
      if (splitter.pending > 0) options.onTorn?.(tornLine(splitter));
    }
  } finally {
    for (const { fd } of files) closeSync(fd);
  }
}

/**
 * Reads a log back as an async iterable of events, in file order: the rotated files oldest first,
 * then the file itself. A partial last line is skipped and reported through `onTorn`.
 *
 * @param file the log file's path (as given to `DataLog`)
 * @returns an async iterable; iterating it throws {@link LogNotFoundError} when there is no such
 *   log, {@link LogReadError} when it cannot be read and {@link MalformedLineError} for a damaged line
 * @throws {LogOptionError} for a malformed option
 * @example
 * for await (const event of readLog('events.log', { room: 'lobby', since: 100 })) console.log(event.id);
 */
export function readLog<T = string>(file: string, options: ReadLogOptions = {}): AsyncIterable<HubEvent<T>> {
  checkReadOptions(options);
  return { [Symbol.asyncIterator]: () => readFiles<T>(file, options) };
}

/**
 * {@link readLog} as an Observable: emits every matching event, then completes; errors with the
 * same typed errors. Unsubscribing stops the read and closes the files.
 */
export function observeLog<T = string>(file: string, options: ReadLogOptions = {}): Observable<HubEvent<T>> {
  const source = readLog<T>(file, options);
  return new Observable<HubEvent<T>>((subscriber) => {
    const iterator = source[Symbol.asyncIterator]();
    const pump = async (): Promise<void> => {
      for (;;) {
        const result = await iterator.next();
        if (subscriber.closed) return;
        if (result.done === true) return subscriber.complete();
        subscriber.next(result.value);
      }
    };
    pump().catch((error: unknown) => subscriber.error(error));
    return () => {
      void iterator.return?.().catch(ignore);
    };
  });
}

function ignore(): void {}
