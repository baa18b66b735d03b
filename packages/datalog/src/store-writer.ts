import { fstatSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HubEvent } from '@msghub/messagehub';
import { LogFileRemovedError, LogRoomNotOpenError, LogWriteError } from './errors.js';
import { closeFd, openForAppend, syncData, syncFolder, truncateFd, writeChunks } from './file-io.js';
import { LineBuffer } from './line-buffer.js';
import { epochLine } from './line-parser.js';
import { inodeOf, listRotated, rotatedPath } from './log-files.js';
import type { FsyncPolicy } from './options.js';
import type { LogPosition, RoomHead } from './room-index.js';

/** One room's batch, waiting to be written. */
export interface StoreRecord {
  readonly head: RoomHead;
  readonly events: readonly HubEvent<unknown>[];
  /** The events' JSON text, one per event. */
  readonly lines: readonly string[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Where some of a record's events went: `bytes` bytes at `offset` of file `gen`, events `firstId..lastId`. */
export interface PlacedRun {
  readonly gen: number;
  readonly offset: number;
  readonly bytes: number;
  readonly firstId: number;
  readonly lastId: number;
}

/** What the writer tells its store. */
export interface WriterHooks {
  /** A record is in the file, synced per policy; called before its promise resolves. */
  committed(record: StoreRecord, runs: readonly PlacedRun[]): void;
  /** A record's write or sync failed; the file may hold any part of it from `from` on. Called before it is rejected. */
  failed(record: StoreRecord, from: LogPosition): void;
  /** The rooms whose epoch lines open every new file. */
  heads(): Iterable<RoomHead>;
  /** File `gen` (inode `ino`) was renamed to its rotated name. */
  rotated(gen: number, ino: number): void;
  /** Retention deleted rotated file `gen`. */
  deleted(gen: number): void;
  /** A batch of `bytes` bytes was written (for checkpoints). */
  written(bytes: number): void;
  report(error: Error): void;
}

/** The live file the writer appends to. */
export interface LiveFile {
  readonly fd: number;
  readonly ino: number;
  readonly size: number;
  readonly gen: number;
}

export interface WriterOptions {
  readonly file: string;
  readonly fsync: FsyncPolicy;
  readonly maxBytes: number;
  readonly retain: number;
}

/** A batch laid out in bytes: where each record's event lines are, and where every line ends. */
interface Layout {
  chunks: Buffer[];
  bytes: number;
  /** End offset (in the batch) of every line, epoch lines included. */
  readonly ends: number[];
  /** Per record: its first event line's index in `ends`, and the batch offsets of its event lines. */
  readonly first: number[];
  readonly start: number[];
  readonly end: number[];
  /** Per record: where its epoch line ends, or -1 when it has none. */
  readonly epochEnd: number[];
}

/** Batch bytes [from, to) went to file `gen` at `offset`. */
interface Piece {
  readonly from: number;
  readonly to: number;
  readonly gen: number;
  readonly offset: number;
}

/** How often the writer looks for a log file removed or replaced behind its back. */
const CHECK_INTERVAL_MS = 1000;

/**
 * The `FileStore`'s one write loop. Each `append` is written at once when the loop is idle; the
 * batches that arrive while a write is in flight, from any room, go out together with the next
 * write (group commit), each record resolved once its lines are in the file and synced per the
 * policy. It rotates the file by size, opening every new file with an epoch line per room, so a
 * file read without the index still tells every room's epoch and where its sequence stood.
 */
export class StoreWriter {
  readonly #options: WriterOptions;
  readonly #hooks: WriterHooks;
  readonly #buffer = new LineBuffer();
  #fd: number;
  #ino: number;
  #size: number;
  #gen: number;
  /** Bytes at the start of the live file taken by the epoch lines written after it was opened. */
  #headerEnd = 0;
  #queue: StoreRecord[] = [];
  #writing = false;
  #quiet: (() => void)[] = [];
  #idle: (() => void)[] = [];
  #lastCheck = performance.now();
  /** Set when a failed write could not be cut off: no later write can be trusted to start on a line boundary. */
  #broken: Error | undefined;

  constructor(live: LiveFile, options: WriterOptions, hooks: WriterHooks) {
    this.#fd = live.fd;
    this.#ino = live.ino;
    this.#size = live.size;
    this.#gen = live.gen;
    this.#options = options;
    this.#hooks = hooks;
  }

  /** The live file's generation, inode, open descriptor and the size its committed lines take. */
  get gen(): number {
    return this.#gen;
  }

  get ino(): number {
    return this.#ino;
  }

  get fd(): number {
    return this.#fd;
  }

  get size(): number {
    return this.#size;
  }

  /** Queues a record; the loop writes it at once, or with the next write when one is in flight. */
  append(record: StoreRecord): void {
    this.#queue.push(record);
    if (this.#writing) return;
    this.#writing = true;
    void this.#drain();
  }

  /**
   * Runs `action` at the next moment no write is in flight (now, when the loop is idle): the file
   * then holds exactly the lines of the committed records.
   */
  whenQuiet(action: () => void): void {
    if (this.#writing) this.#quiet.push(action);
    else action();
  }

  /** Resolves once every record queued so far is written or failed and the loop has stopped. */
  idle(): Promise<void> {
    if (!this.#writing) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Resolves once every queued record is written or failed, then closes the file. Never rejects. */
  async close(): Promise<void> {
    await this.idle();
    await closeFd(this.#fd);
  }

  async #drain(): Promise<void> {
    // Batches that several rooms append in the same turn go out in one write.
    await undefined;
    while (this.#queue.length > 0) {
      const records = this.#queue;
      this.#queue = [];
      await this.#writeBatch(records);
      this.#runQuiet();
    }
    this.#writing = false;
    this.#runQuiet();
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  #runQuiet(): void {
    if (this.#quiet.length === 0) return;
    const actions = this.#quiet;
    this.#quiet = [];
    for (const action of actions) action();
  }

  async #writeBatch(all: StoreRecord[]): Promise<void> {
    const records: StoreRecord[] = [];
    for (const record of all) {
      // A record queued before an earlier batch of its room failed would leave a hole after it.
      if (record.head.failedAt === undefined) records.push(record);
      else record.reject(new LogRoomNotOpenError(`Room ${record.head.room} stopped after a failed write; open it again`, record.head.room));
    }
    if (records.length === 0) return;
    if (this.#broken !== undefined) return this.#fail(records, this.#broken, { gen: this.#gen, offset: this.#size });
    let from: LogPosition = { gen: this.#gen, offset: this.#size };
    let layout: Layout;
    let pieces: Piece[];
    try {
      layout = this.#layout(records);
      if (performance.now() - this.#lastCheck >= CHECK_INTERVAL_MS) {
        await this.#checkFile();
        from = { gen: this.#gen, offset: this.#size };
      }
      pieces = await this.#write(layout, records);
    } catch (error) {
      return this.#fail(records, error, from);
    }
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as StoreRecord;
      this.#hooks.committed(record, placeRuns(record, layout, i, pieces));
      record.resolve();
    }
    this.#hooks.written(layout.bytes);
  }

  #fail(records: readonly StoreRecord[], error: unknown, from: LogPosition): void {
    for (const record of records) {
      this.#hooks.failed(record, from);
      const { room } = record.head;
      record.reject(new LogWriteError(`Cannot write ${record.events.length} events of room ${room} to ${this.#options.file}`, this.#options.file, record.events.length, { cause: error }));
    }
  }

  #layout(records: readonly StoreRecord[]): Layout {
    const layout: Layout = { chunks: [], bytes: 0, ends: [], first: [], start: [], end: [], epochEnd: [] };
    try {
      this.#encode(records, layout);
    } catch (error) {
      // Nothing half-encoded may go out with the next batch.
      this.#buffer.take();
      throw error;
    }
    const taken = this.#buffer.take();
    layout.chunks = taken.chunks;
    layout.bytes = taken.bytes;
    return layout;
  }

  /** Encodes the batch: each room's epoch line before its first events, when the log has none yet. */
  #encode(records: readonly StoreRecord[], layout: Layout): void {
    const buffer = this.#buffer;
    const { ends, first, start, end, epochEnd } = layout;
    const opened = new Set<RoomHead>();
    let at = 0;
    for (const record of records) {
      const { head, events, lines } = record;
      const firstId = (events[0] as HubEvent<unknown>).id;
      if (!head.durable && !opened.has(head)) {
        opened.add(head);
        at += buffer.push(epochLine(head.room, head.epoch, firstId - 1), head.room, firstId - 1);
        ends.push(at);
        epochEnd.push(at);
      } else {
        epochEnd.push(-1);
      }
      first.push(ends.length);
      start.push(at);
      for (let i = 0; i < lines.length; i++) {
        at += buffer.push(lines[i] as string, head.room, firstId + i);
        ends.push(at);
      }
      end.push(at);
    }
  }

  /** Writes the batch, rotating and syncing as the options say; returns where its bytes went. */
  async #write(layout: Layout, records: readonly StoreRecord[]): Promise<Piece[]> {
    const { fsync, maxBytes } = this.#options;
    if (fsync !== 'event' && this.#size + layout.bytes <= maxBytes) {
      const piece: Piece = { from: 0, to: layout.bytes, gen: this.#gen, offset: this.#size };
      await this.#writeAt(layout.chunks, layout.bytes);
      if (fsync === 'batch') await syncData(this.#fd);
      return [piece];
    }
    // Line by line as far as needed: a file never passes maxBytes unless one line alone does,
    // and under `event` every line is synced on its own.
    const data = Buffer.concat(layout.chunks, layout.bytes);
    const pieces: Piece[] = [];
    let done = 0;
    let line = 0;
    while (done < data.length) {
      let cut = line;
      const room = maxBytes - this.#size;
      if (fsync === 'event') {
        if ((layout.ends[cut] as number) - done <= room) cut++;
      } else {
        while (cut < layout.ends.length && (layout.ends[cut] as number) - done <= room) cut++;
      }
      if (cut === line) {
        if (this.#size > this.#headerEnd) {
          await this.#rotate(layout, records, done);
          continue;
        }
        // A line longer than a fresh file can hold still goes into one of its own.
        cut = line + 1;
      }
      const to = layout.ends[cut - 1] as number;
      pieces.push({ from: done, to, gen: this.#gen, offset: this.#size });
      await this.#writeAt([data.subarray(done, to)], to - done);
      if (fsync === 'event') await syncData(this.#fd);
      done = to;
      line = cut;
    }
    if (fsync === 'batch') await syncData(this.#fd);
    return pieces;
  }

  /** Appends `bytes` bytes; a write cut short is cut off again, so the file ends on a line boundary. */
  async #writeAt(chunks: Buffer[], bytes: number): Promise<void> {
    try {
      await writeChunks(this.#fd, chunks);
    } catch (error) {
      await truncateFd(this.#fd, this.#size);
      if (fstatSync(this.#fd).size !== this.#size) {
        this.#broken = new Error(`${this.#options.file} could not be cut back after a failed write`, { cause: error });
      }
      throw error;
    }
    this.#size += bytes;
  }

  /**
   * Renames the live file to its rotated name, starts a fresh one with an epoch line per room
   * (those whose epoch is in the log, and those whose epoch line this batch wrote before `done`),
   * and deletes rotated files beyond `retain`.
   */
  async #rotate(layout: Layout, records: readonly StoreRecord[], done: number): Promise<void> {
    const { file, fsync } = this.#options;
    // Under `batch` and `event`, what the old file holds is durable before it is let go.
    if (fsync !== 'never') await syncData(this.#fd);
    const gen = this.#gen;
    await rename(file, rotatedPath(file, gen));
    this.#hooks.rotated(gen, this.#ino);
    await this.#replaceLive(gen + 1);
    if (fsync !== 'never') await syncFolder(dirname(file));
    const started = new Set<RoomHead>();
    for (let i = 0; i < records.length; i++) {
      const end = layout.epochEnd[i] as number;
      if (end >= 0 && end <= done) started.add((records[i] as StoreRecord).head);
    }
    await this.#writeHeader(started);
    await this.#retire();
  }

  /** Opens a fresh file at the log's path as generation `gen`. */
  async #replaceLive(gen: number): Promise<void> {
    const fd = openForAppend(this.#options.file);
    const old = this.#fd;
    const stats = fstatSync(fd);
    this.#fd = fd;
    this.#ino = stats.ino;
    this.#size = stats.size;
    this.#headerEnd = stats.size;
    this.#gen = gen;
    await closeFd(old);
  }

  /** Writes the epoch line of every room at the top of a new file. */
  async #writeHeader(started: ReadonlySet<RoomHead>): Promise<void> {
    const header: string[] = [];
    for (const head of this.#hooks.heads()) {
      if (head.durable || started.has(head)) header.push(`${epochLine(head.room, head.epoch, head.lastEventId)}\n`);
    }
    if (header.length === 0) return;
    const data = Buffer.from(header.join(''), 'utf8');
    await this.#writeAt([data], data.length);
    this.#headerEnd = this.#size;
  }

  async #retire(): Promise<void> {
    const rotated = await listRotated(this.#options.file);
    const doomed = rotated.slice(0, Math.max(0, rotated.length - this.#options.retain));
    for (const { path, seq } of doomed) {
      try {
        await unlink(path);
      } catch (error) {
        // Already gone (removed by hand) is what retention wanted.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.#hooks.report(new LogWriteError(`Cannot delete rotated log file ${path}`, this.#options.file, 0, { cause: error }));
          continue;
        }
      }
      this.#hooks.deleted(seq);
    }
  }

  /**
   * Opens the path again when the live file was removed or replaced behind the store's back. The
   * lines in the lost file are gone; the new file is a new generation, so nothing is looked for
   * in it at the old file's offsets.
   */
  async #checkFile(): Promise<void> {
    this.#lastCheck = performance.now();
    const ino = await inodeOf(this.#options.file);
    if (ino === this.#ino) return;
    await this.#replaceLive(this.#gen + 1);
    this.#hooks.report(new LogFileRemovedError(`Log file ${this.#options.file} was removed or replaced while open; reopened it`, this.#options.file));
    await this.#writeHeader(new Set());
  }
}

/** Where record `i`'s event lines went, as one run per file they landed in. */
function placeRuns(record: StoreRecord, layout: Layout, i: number, pieces: readonly Piece[]): PlacedRun[] {
  const start = layout.start[i] as number;
  const end = layout.end[i] as number;
  const firstId = (record.events[0] as HubEvent<unknown>).id;
  const lastId = firstId + record.events.length - 1;
  const runs: PlacedRun[] = [];
  for (const piece of pieces) {
    const from = Math.max(start, piece.from);
    const to = Math.min(end, piece.to);
    if (from >= to) continue;
    runs.push({ gen: piece.gen, offset: piece.offset + (from - piece.from), bytes: to - from, firstId: firstId + linesBefore(layout, i, from), lastId });
  }
  // Each run ends where the next begins.
  for (let k = 0; k < runs.length - 1; k++) runs[k] = { ...(runs[k] as PlacedRun), lastId: (runs[k + 1] as PlacedRun).firstId - 1 };
  return runs;
}

/** How many of record `i`'s event lines start before batch offset `at`. */
function linesBefore(layout: Layout, i: number, at: number): number {
  const first = layout.first[i] as number;
  if (at === layout.start[i]) return 0;
  let n = 0;
  while ((layout.ends[first + n] as number) <= at) n++;
  return n;
}
