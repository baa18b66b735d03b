import { read, readSync } from 'node:fs';
import type { HubEvent } from '@msghub/messagehub';
import { LogReadError, MalformedLineError } from './errors.js';
import { isEpoch, parseLine } from './line-parser.js';

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ID_KEY = Buffer.from('{"id":');
const ROOM_KEY = Buffer.from(',"chatroomId":"');
const CHUNK = 1024 * 1024;

/**
 * One complete line met by {@link scanFile}: where it is and whose it is. One object is reused
 * for every line of a scan; a visitor copies what it keeps.
 */
export interface ScannedLine {
  /** An event, or an epoch line (see `EpochLine`). */
  kind: 'event' | 'epoch';
  room: string;
  /** The event's id, or the epoch line's `lastEventId`. */
  id: number;
  /** The epoch named by an epoch line ('' for an event). */
  epoch: string;
  /** The line's file (its generation), byte offset in it, and length with its newline. */
  gen: number;
  offset: number;
  bytes: number;
}

/** A file to scan: generation `gen`, open as `fd`, from byte `from` to its end as the scan finds it. */
export interface ScanTarget {
  readonly gen: number;
  readonly fd: number;
  readonly path: string;
  readonly from: number;
}

function readAt(fd: number, buffer: Buffer, offset: number, length: number, position: number, file: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    read(fd, buffer, offset, length, position, (error, bytes) => {
      if (error === null) resolve(bytes);
      else reject(new LogReadError(`Cannot read log file ${file} (${error.code ?? String(error)})`, file, { cause: error }));
    });
  });
}

/**
 * Fills `line` from the bytes `data[start, end)`. The hub writes `{"id":N,"chatroomId":"R",...`,
 * so the id and room of its lines are read from those bytes without parsing the payload; any
 * other line (an epoch line, a room id with escapes, a line from another writer) is parsed whole.
 * @throws {MalformedLineError} for a line that is neither an event nor an epoch line
 */
function inspect(data: Buffer, start: number, end: number, line: ScannedLine, path: string): void {
  if (end - start > ID_KEY.length + ROOM_KEY.length && data.compare(ID_KEY, 0, ID_KEY.length, start, start + ID_KEY.length) === 0) {
    let at = start + ID_KEY.length;
    let id = 0;
    const digitsFrom = at;
    for (let c = data[at] as number; at < end && c >= 0x30 && c <= 0x39; c = data[++at] as number) id = id * 10 + (c - 0x30);
    const digits = at - digitsFrom;
    if (digits > 0 && digits < 16 && at + ROOM_KEY.length < end && data.compare(ROOM_KEY, 0, ROOM_KEY.length, at, at + ROOM_KEY.length) === 0) {
      const from = at + ROOM_KEY.length;
      let quote = from;
      while (quote < end && data[quote] !== QUOTE && data[quote] !== BACKSLASH) quote++;
      if (quote < end && data[quote] === QUOTE && quote > from) {
        line.kind = 'event';
        line.room = data.toString('utf8', from, quote);
        line.id = id;
        line.epoch = '';
        return;
      }
    }
  }
  const parsed = parseLine(data.toString('utf8', start, end), path, 0, line.offset);
  if (isEpoch(parsed)) {
    line.kind = 'epoch';
    line.room = parsed.chatroomId;
    line.id = parsed.lastEventId;
    line.epoch = parsed.epoch;
  } else {
    line.kind = 'event';
    line.room = parsed.chatroomId;
    line.id = parsed.id;
    line.epoch = '';
  }
}

/**
 * Reads `target` from its `from` offset to its current end and hands every complete line to
 * `visit`. A partial line at the end (a write in flight, or torn by a crash) is not handed out.
 *
 * @returns the offset just past the last complete line
 * @throws {LogReadError} when the file cannot be read, {@link MalformedLineError} for a damaged line
 */
export async function scanFile(target: ScanTarget, visit: (line: ScannedLine) => void): Promise<number> {
  const line: ScannedLine = { kind: 'event', room: '', id: 0, epoch: '', gen: target.gen, offset: 0, bytes: 0 };
  let buffer = Buffer.allocUnsafe(CHUNK);
  /** Bytes at the start of `buffer` that belong to a line begun in the previous read. */
  let carried = 0;
  /** File offset of `buffer[0]`. */
  let base = target.from;
  for (;;) {
    if (carried === buffer.length) {
      // One line longer than the buffer: grow it.
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, carried);
      buffer = bigger;
    }
    const got = await readAt(target.fd, buffer, carried, buffer.length - carried, base + carried, target.path);
    if (got === 0) return base;
    const filled = carried + got;
    const data = buffer.subarray(0, filled);
    let start = 0;
    let end = data.indexOf(NEWLINE, start);
    while (end >= 0) {
      if (end > start) {
        line.offset = base + start;
        line.bytes = end - start + 1;
        inspect(data, start, end, line, target.path);
        visit(line);
      }
      start = end + 1;
      end = data.indexOf(NEWLINE, start);
    }
    carried = filled - start;
    buffer.copy(buffer, 0, start, filled);
    base += start;
  }
}

/** A piece of one file to read back: `bytes` bytes from `offset`, holding one room's lines. */
export interface Span {
  readonly offset: number;
  readonly bytes: number;
}

/**
 * Parses the lines in `buffer[from, to)` (whole lines, newline-terminated), which start at byte
 * `at` of `path`, and passes each event to `emit`.
 *
 * @throws {MalformedLineError} for a line that is not an event
 */
export function parseLines<T>(buffer: Buffer, from: number, to: number, path: string, at: number, emit: (event: HubEvent<T>) => void): void {
  let start = from;
  while (start < to) {
    let end = buffer.indexOf(NEWLINE, start);
    if (end < 0 || end >= to) end = to;
    const offset = at + (start - from);
    const parsed = parseLine<T>(buffer.toString('utf8', start, end), path, 0, offset);
    if (isEpoch(parsed)) throw new MalformedLineError(`${path} at byte ${offset}: an epoch line where an event was expected`, path, 0, undefined, offset);
    emit(parsed);
    start = end + 1;
  }
}

/**
 * Reads up to `length` bytes of `fd` at `position` into `buffer` (synchronously, retrying short
 * reads); returns how many it got (fewer at the end of the file).
 *
 * @throws {LogReadError} when the file cannot be read
 */
export function readFully(fd: number, path: string, buffer: Buffer, length: number, position: number): number {
  let got = 0;
  try {
    while (got < length) {
      const bytes = readSync(fd, buffer, got, length - got, position + got);
      if (bytes === 0) break;
      got += bytes;
    }
  } catch (error) {
    throw new LogReadError(`Cannot read log file ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, path, { cause: error });
  }
  return got;
}
