/**
 * Where each room's sequence stands, kept beside the log: the heads a `FileStore` works from
 * (epoch, last id, and where in the log the room's latest events are) and the index file
 * `<log>.index` that carries them across restarts.
 */
import { open as openFile, readFile, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { HubEvent } from '@msghub/messagehub';
import { syncFolder } from './file-io.js';

/** A place in the log: byte `offset` of the file with generation `gen` (see docs/datalog.md). */
export interface LogPosition {
  readonly gen: number;
  readonly offset: number;
}

/** Consecutive lines of one room in one file, holding its events from `firstId` on. */
export interface Run {
  readonly gen: number;
  readonly offset: number;
  readonly bytes: number;
  readonly firstId: number;
}

/** Runs are kept flat: gen, offset, bytes, firstId. */
const RUN = 4;

/**
 * One room as the store knows it. `lastEventId` counts only committed events (in the file and
 * synced per policy). The runs locate at least the room's latest `keep` events in the log, so
 * its history is read back with a few positioned reads instead of a scan.
 */
export class RoomHead {
  readonly room: string;
  epoch: string;
  lastEventId: number;
  /** The last id handed to the writer: the next batch must start after it. */
  queuedId: number;
  /** Events whose positions (and, while open, whose objects) are kept. */
  keep: number;
  /** Whether the log holds an epoch line of this sequence (written with its first batch). */
  durable: boolean;
  /** Opened and not yet released. */
  open = false;
  /** The latest committed events while the room is open, oldest first. */
  tail: HubEvent<unknown>[] | undefined;
  /**
   * Set when a batch of the room failed: from here on the file may hold events the head does
   * not count. Opening the room again scans from here.
   */
  failedAt: LogPosition | undefined;
  #runs: number[] = [];

  constructor(room: string, epoch: string, lastEventId: number, keep: number, durable: boolean) {
    this.room = room;
    this.epoch = epoch;
    this.lastEventId = lastEventId;
    this.queuedId = lastEventId;
    this.keep = keep;
    this.durable = durable;
  }

  /** Another sequence starts (an epoch line with another epoch): what was known of the old one goes. */
  startSequence(epoch: string, lastEventId: number): void {
    this.epoch = epoch;
    this.lastEventId = this.queuedId = lastEventId;
    this.durable = true;
    this.#runs = [];
    this.tail = undefined;
  }

  /**
   * Records where committed events `firstId..lastId` of the room are. A run that starts where the
   * previous one ended, in the same file, extends it.
   */
  addRun(gen: number, offset: number, bytes: number, firstId: number, lastId: number): void {
    const runs = this.#runs;
    const n = runs.length;
    if (firstId <= this.lastEventId) {
      // The ids start again below the last one (a log written without a store, restarted without
      // a seed): the latest run wins, as `replay` has it.
      this.#runs = [];
    } else if (
      n > 0 &&
      runs[n - RUN] === gen &&
      (runs[n - RUN + 1] as number) + (runs[n - RUN + 2] as number) === offset &&
      firstId === this.lastEventId + 1
    ) {
      runs[n - RUN + 2] = (runs[n - RUN + 2] as number) + bytes;
      this.lastEventId = lastId;
      this.queuedId = Math.max(this.queuedId, lastId);
      return;
    }
    this.#runs.push(gen, offset, bytes, firstId);
    this.lastEventId = lastId;
    this.queuedId = Math.max(this.queuedId, lastId);
    if (this.#runs.length > RUN * (2 * this.keep + 16)) this.#trim();
  }

  /** Drops the runs not needed to reach back `keep` events. */
  #trim(): void {
    const from = this.#firstNeeded();
    if (from > 0) this.#runs.splice(0, from);
  }

  /** Index (into the flat array) of the oldest run needed for the latest `keep` events. */
  #firstNeeded(): number {
    const runs = this.#runs;
    const oldest = this.lastEventId - this.keep + 1;
    for (let i = runs.length - RUN; i > 0; i -= RUN) if ((runs[i + 3] as number) <= oldest) return i;
    return 0;
  }

  /** The id the runs reach back to (lastEventId + 1 when there are none). */
  get firstRunId(): number {
    return (this.#runs[3] as number | undefined) ?? this.lastEventId + 1;
  }

  /** The runs that hold the room's events with an id above `since`, oldest first. */
  runsAfter(since: number): Run[] {
    const runs = this.#runs;
    const out: Run[] = [];
    for (let i = runs.length - RUN; i >= 0; i -= RUN) {
      out.push({ gen: runs[i] as number, offset: runs[i + 1] as number, bytes: runs[i + 2] as number, firstId: runs[i + 3] as number });
      if ((runs[i + 3] as number) <= since + 1) break;
    }
    return out.reverse();
  }

  /** Takes the runs another head of the same room found (a rescan of the log). */
  takeRuns(other: RoomHead): void {
    this.#runs = other.#runs;
  }

  /** Adds committed events to the in-memory tail of an open room, keeping at most `keep` (amortised). */
  remember(events: readonly HubEvent<unknown>[]): void {
    const tail = this.tail;
    if (tail === undefined) return;
    for (let i = 0; i < events.length; i++) tail.push(events[i] as HubEvent<unknown>);
    if (tail.length >= 2 * this.keep + 16) tail.splice(0, tail.length - this.keep);
  }

  /** The room as an index entry. */
  toEntry(): IndexRoom {
    const from = this.#firstNeeded();
    const runs = this.#runs;
    const delta: number[] = [];
    let gen = 0;
    let end = 0;
    let id = 0;
    for (let i = from; i < runs.length; i += RUN) {
      const g = runs[i] as number;
      const offset = runs[i + 1] as number;
      // Offsets count from the end of the previous run in the same file: small numbers.
      delta.push(g - gen, g === gen ? offset - end : offset, runs[i + 2] as number, (runs[i + 3] as number) - id);
      gen = g;
      end = offset + (runs[i + 2] as number);
      id = runs[i + 3] as number;
    }
    const failed = this.failedAt === undefined ? [] : [this.failedAt.gen, this.failedAt.offset];
    return [this.room, this.epoch, this.lastEventId, this.keep, this.durable ? 1 : 0, delta, ...failed] as IndexRoom;
  }

  /** A head from an index entry (already checked by {@link parseIndex}). */
  static fromEntry(entry: IndexRoom): RoomHead {
    const [room, epoch, lastEventId, keep, durable, delta, failedGen, failedOffset] = entry;
    const head = new RoomHead(room, epoch, lastEventId, keep, durable === 1);
    let gen = 0;
    let end = 0;
    let id = 0;
    for (let i = 0; i < delta.length; i += RUN) {
      const g = gen + (delta[i] as number);
      const offset = g === gen ? end + (delta[i + 1] as number) : (delta[i + 1] as number);
      const bytes = delta[i + 2] as number;
      id += delta[i + 3] as number;
      head.#runs.push(g, offset, bytes, id);
      gen = g;
      end = offset + bytes;
    }
    if (failedGen !== undefined && failedOffset !== undefined) head.failedAt = { gen: failedGen, offset: failedOffset };
    return head;
  }
}

/** One room in the index: room, epoch, lastEventId, keep, durable (0/1), runs (delta-coded), [failedAt gen, offset]. */
export type IndexRoom = [string, string, number, number, 0 | 1, number[], number?, number?];

/**
 * What `<log>.index` holds: the live file (generation, inode and the size up to which the heads
 * account for every line), the rotated files the runs point into (generation and inode), and the
 * rooms.
 */
export interface IndexData {
  readonly version: 1;
  readonly log: string;
  readonly live: readonly [gen: number, ino: number, size: number];
  readonly files: readonly (readonly [gen: number, ino: number])[];
  readonly rooms: readonly IndexRoom[];
}

/** The path of the index of `file`. */
export function indexPath(file: string): string {
  return `${file}.index`;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

function isRoom(value: unknown): value is IndexRoom {
  if (!Array.isArray(value) || value.length < 6 || value.length > 8) return false;
  const [room, epoch, lastEventId, keep, durable, runs, failedGen, failedOffset] = value as unknown[];
  if (typeof room !== 'string' || room.length === 0 || typeof epoch !== 'string' || epoch.length === 0) return false;
  if (!isCount(lastEventId) || !isCount(keep) || (durable !== 0 && durable !== 1)) return false;
  if (value.length === 7 || (value.length === 8 && !(isCount(failedGen) && isCount(failedOffset)))) return false;
  if (!Array.isArray(runs) || runs.length % RUN !== 0) return false;
  let id = 0;
  for (let i = 0; i < runs.length; i += RUN) {
    // Generations and ids only grow (the first run's values are absolute); every run holds bytes.
    if (!isCount(runs[i]) || !isCount(runs[i + 1]) || !isCount(runs[i + 2]) || !isCount(runs[i + 3])) return false;
    if ((runs[i + 2] as number) === 0 || (i > 0 && (runs[i + 3] as number) === 0)) return false;
    id += runs[i + 3] as number;
  }
  return id <= lastEventId;
}

/** Parses and checks index text; undefined when it is not a well-formed index of `file`. */
export function parseIndex(text: string, file: string): IndexData | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { version, log, live, files, rooms } = value as Record<string, unknown>;
  if (version !== 1 || log !== basename(file)) return undefined;
  if (!Array.isArray(live) || live.length !== 3 || !live.every(isCount)) return undefined;
  if (!Array.isArray(files) || !files.every((f) => Array.isArray(f) && f.length === 2 && f.every(isCount))) return undefined;
  if (!Array.isArray(rooms) || !rooms.every(isRoom)) return undefined;
  const names = new Set(rooms.map((room) => room[0]));
  if (names.size !== rooms.length) return undefined;
  return value as IndexData;
}

/**
 * Reads the index of `file`: its data, `undefined` when there is none, or `'damaged'` when it
 * exists but cannot be used (unreadable, not JSON, not the index of this log).
 */
export async function readIndex(file: string): Promise<IndexData | undefined | 'damaged'> {
  let text: string;
  try {
    text = await readFile(indexPath(file), 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'damaged';
  }
  return parseIndex(text, file) ?? 'damaged';
}

/** The text of an index. */
export function encodeIndex(data: IndexData): string {
  return JSON.stringify(data);
}

/**
 * Replaces the index of `file` atomically: the text goes to a temporary file, which is renamed
 * over the index. With `sync`, the temporary file is synced before and the folder after the rename,
 * so the index on disk is always a whole one, old or new.
 *
 * @returns the index's size in bytes
 */
export async function writeIndex(file: string, text: string, sync: boolean): Promise<number> {
  const target = indexPath(file);
  const temporary = `${target}.tmp`;
  const data = Buffer.from(text, 'utf8');
  const handle = await openFile(temporary, 'w');
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, target);
  if (sync) await syncFolder(dirname(target));
  return data.length;
}
