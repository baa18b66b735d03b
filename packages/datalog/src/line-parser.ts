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

/** Whether `event` passes `filter`. */
export function matches(event: HubEvent<unknown>, filter: EventFilter): boolean {
  if (filter.room !== undefined && event.chatroomId !== filter.room) return false;
  return filter.since === undefined || event.id > filter.since;
}

function isEvent(value: unknown): value is HubEvent<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const { id, chatroomId, type } = value as Record<string, unknown>;
  return typeof id === 'number' && typeof chatroomId === 'string' && typeof type === 'string';
}

/** Parses one complete line, or throws a {@link MalformedLineError} naming the file and line. */
export function parseLine<T>(text: string, file: string, line: number): HubEvent<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MalformedLineError(`${file}:${line}: not a JSON line`, file, line, { cause: error });
  }
  if (!isEvent(value)) throw new MalformedLineError(`${file}:${line}: not a msghub event`, file, line);
  return value as HubEvent<T>;
}

/**
 * Splits a file's bytes into lines as they arrive in chunks. Lines are cut at newline bytes, so a
 * multi-byte character split across chunks is decoded whole.
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
  push<T>(chunk: Buffer, emit: (event: HubEvent<T>) => void): void {
    const data = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk]);
    let start = 0;
    let end = data.indexOf(NEWLINE, start);
    while (end >= 0) {
      this.line++;
      if (end > start) emit(parseLine<T>(data.toString('utf8', start, end), this.file, this.line));
      this.offset += end - start + 1;
      start = end + 1;
      end = data.indexOf(NEWLINE, start);
    }
    // Copied: the caller reuses its read buffer.
    this.#rest = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
  }
}
