import type { HubEvent } from '@msghub/messagehub';
import { MalformedLineError } from './errors.js';

const NEWLINE = 0x0a;

/** Which events a reader passes on. */
export interface EventFilter {
  /** Only events of this room. */
  readonly room?: string | undefined;
  /** Only events with an id greater than this (in each room). */
  readonly since?: number | undefined;
}

/**
 * The line a `FileStore` writes when a room's sequence starts, and again at the top of every
 * file after a rotation: from here on the room's sequence is named `epoch`, and `lastEventId` is
 * the id of its last event before this line (0 when it starts). It is not an event: it has no
 * `id`, and every reader skips it.
 *
 * `{"type":"epoch","chatroomId":"lobby","epoch":"4fQ2...","lastEventId":0}`
 */
export interface EpochLine {
  readonly type: 'epoch';
  readonly chatroomId: string;
  readonly epoch: string;
  readonly lastEventId: number;
}

/** The text of an {@link EpochLine} (without its newline). */
export function epochLine(chatroomId: string, epoch: string, lastEventId: number): string {
  return JSON.stringify({ type: 'epoch', chatroomId, epoch, lastEventId });
}

/** Whether `event` passes `filter`. */
export function matches(event: HubEvent<unknown>, filter: EventFilter): boolean {
  if (filter.room !== undefined && event.chatroomId !== filter.room) return false;
  return filter.since === undefined || event.id > filter.since;
}

export function isEvent(value: unknown): value is HubEvent<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const { id, chatroomId, type } = value as Record<string, unknown>;
  return typeof id === 'number' && typeof chatroomId === 'string' && typeof type === 'string';
}

function isEpochLine(value: unknown): value is EpochLine {
  if (typeof value !== 'object' || value === null) return false;
  const { id, chatroomId, type, epoch, lastEventId } = value as Record<string, unknown>;
  return (
    type === 'epoch' &&
    id === undefined &&
    typeof chatroomId === 'string' &&
    typeof epoch === 'string' &&
    typeof lastEventId === 'number' &&
    Number.isSafeInteger(lastEventId) &&
    lastEventId >= 0
  );
}

/** Where a damaged line is, for the error: its line number when known, else its byte offset. */
function where(file: string, line: number, offset: number | undefined): string {
  return line > 0 || offset === undefined ? `${file}:${line}` : `${file} at byte ${offset}`;
}

/**
 * Parses one complete line into an event or an {@link EpochLine}, or throws a
 * {@link MalformedLineError} naming the file and line (or, when the line number is not known
 * because the read started mid-file, 0 and the line's byte offset).
 */
export function parseLine<T>(text: string, file: string, line: number, offset?: number): HubEvent<T> | EpochLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MalformedLineError(`${where(file, line, offset)}: not a JSON line`, file, line, { cause: error }, offset);
  }
  if (isEvent(value)) return value as HubEvent<T>;
  if (isEpochLine(value)) return value;
  throw new MalformedLineError(`${where(file, line, offset)}: not a msghub event`, file, line, undefined, offset);
}

/** Whether a parsed line is an {@link EpochLine} rather than an event. */
export function isEpoch(value: HubEvent<unknown> | EpochLine): value is EpochLine {
  return (value as { id?: unknown }).id === undefined;
}

/**
 * Splits a file's bytes into lines as they arrive in chunks. Lines are cut at newline bytes, so a
 * multi-byte character split across chunks is decoded whole. Epoch lines are skipped, or passed
 * to `onEpoch` when given.
 */
export class LineSplitter {
  readonly file: string;
  /** Complete lines seen so far (1-based number of the last one). */
  line = 0;
  /** Bytes consumed by complete lines. */
  offset = 0;
  #rest: Buffer | undefined;

  constructor(file: string) {
    this.file = file;
  }

  /** Bytes after the last newline: a partial line, complete only if more arrives. */
  get pending(): number {
    return this.#rest?.length ?? 0;
  }

  /** Parses every complete line in `chunk` (after what was pending) and passes each event to `emit`. */
  push<T>(chunk: Buffer, emit: (event: HubEvent<T>) => void, onEpoch?: (line: EpochLine) => void): void {
    const data = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk]);
    let start = 0;
    let end = data.indexOf(NEWLINE, start);
    while (end >= 0) {
      this.line++;
      if (end > start) {
        const parsed = parseLine<T>(data.toString('utf8', start, end), this.file, this.line);
        if (!isEpoch(parsed)) emit(parsed);
        else onEpoch?.(parsed);
      }
      this.offset += end - start + 1;
      start = end + 1;
      end = data.indexOf(NEWLINE, start);
    }
    // Copied: the caller reuses its read buffer.
    this.#rest = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
  }
}
