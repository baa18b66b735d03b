import { closeSync, fstatSync } from 'node:fs';
import type { HubEvent } from '@msghub/messagehub';
import { isEvent } from './line-parser.js';
import { rotatedPath } from './log-files.js';
import { parseLines, readFully, type ScannedLine, type ScanTarget, type Span } from './log-scan.js';
import type { LogPosition, Run } from './room-index.js';
import { openIfThere, scanFiles } from './store-recovery.js';

/** The live file as the writer has it now. */
export interface LiveView {
  readonly gen: number;
  readonly ino: number;
  readonly fd: number;
  /** Bytes of committed lines: what lies below never changes. */
  readonly size: number;
}

/** Where the store's files are: the log's path, its rotated files (generation to inode) and the live file. */
export interface LogLayout {
  readonly file: string;
  readonly files: ReadonlyMap<number, number>;
  live(): LiveView;
}

/** Blocks are read whole when they hold at least `DENSE` of the runs asked for, and kept for others. */
const BLOCK = 256 * 1024;
const DENSE = 8;
/** At most this many blocks (32 MiB) are kept, and none once no read has used them for a second. */
const BLOCKS = 128;
const KEEP_MS = 1000;
const NEWLINE = 0x0a;
const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;

/**
 * Reads a store's log back: a room's runs with positioned reads (synchronous: a history of 1024
 * events is a few hundred microseconds from the page cache), and whole-log scans (asynchronous).
 *
 * Many rooms opened together (a restart) have their latest events in the same stretch of the log,
 * so a block of the log that holds many runs is read once and kept for the next rooms for a
 * moment. Only blocks that can no longer change are kept: rotated files, and the live file below
 * its committed size.
 */
export class StoreReader {
  readonly #layout: LogLayout;
  readonly #blocks = new Map<string, Buffer>();
  #timer: NodeJS.Timeout | undefined;
  #scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(layout: LogLayout) {
    this.#layout = layout;
  }

  /**
   * Parses the lines of `runs` (sorted, as a head lists them) and passes their events to `emit`.
   * Runs in a file that no longer exists, or is not the file the store wrote, are skipped.
   *
   * The runs' bytes are gathered into one buffer and parsed as one JSON array (every newline
   * becomes the comma between two events: JSON text holds no raw newline), which costs half of a
   * parse per line. When that fails, the runs are parsed line by line to name the damaged one.
   *
   * @throws {LogReadError} or {@link MalformedLineError} when a file cannot be read or a line is damaged
   */
  readRuns(runs: readonly Run[], emit: (event: HubEvent<unknown>) => void): void {
    let total = 1;
    for (const run of runs) total += run.bytes;
    const out = Buffer.allocUnsafe(total);
    out[0] = OPEN;
    let at = 1;
    this.#eachGroup(runs, (gen, fd, path, group) => {
      this.#readGroup(gen, fd, path, group, (data, from, to) => {
        data.copy(out, at, from, to);
        at += to - from;
      });
    });
    if (at === 1) return;
    for (let i = out.indexOf(NEWLINE, 1); i >= 0 && i < at; i = out.indexOf(NEWLINE, i + 1)) out[i] = COMMA;
    let values: unknown;
    if (out[at - 1] === COMMA) {
      out[at - 1] = CLOSE;
      try {
        values = JSON.parse(out.toString('utf8', 0, at));
      } catch {
        values = undefined;
      }
    }
    if (!Array.isArray(values) || !values.every(isEvent)) {
      this.#eachGroup(runs, (gen, fd, path, group) => {
        this.#readGroup(gen, fd, path, group, (data, from, to, offset) => parseLines(data, from, to, path, offset, emit));
      });
      return;
    }
    for (const value of values) emit(value as HubEvent<unknown>);
  }

  /** Calls `read` for each file's runs, with the file open. */
  #eachGroup(runs: readonly Run[], read: (gen: number, fd: number, path: string, group: readonly Run[]) => void): void {
    let i = 0;
    while (i < runs.length) {
      const gen = (runs[i] as Run).gen;
      let j = i;
      while (j < runs.length && (runs[j] as Run).gen === gen) j++;
      const group = runs.slice(i, j);
      i = j;
      const opened = this.open(gen);
      if (opened === undefined) continue;
      try {
        read(gen, opened.fd, opened.path, group);
      } finally {
        if (opened.own) closeSync(opened.fd);
      }
    }
    if (this.#blocks.size > 0) this.#armClear();
  }

  /** Hands the bytes of each run to `take` (`data[from, to)`, which start at byte `offset` of the file). */
  #readGroup(gen: number, fd: number, path: string, runs: readonly Run[], take: (data: Buffer, from: number, to: number, offset: number) => void): void {
    const live = this.#layout.live();
    const stable = gen === live.gen ? live.size : Infinity;
    const dense = new Map<number, number>();
    for (const run of runs) {
      const block = Math.floor(run.offset / BLOCK);
      if (Math.floor((run.offset + run.bytes - 1) / BLOCK) === block) dense.set(block, (dense.get(block) ?? 0) + 1);
    }
    // The block in use, kept here too: the last block of the live file can change, so it is not kept beyond this call.
    let current = -1;
    let data: Buffer = this.#scratch;
    for (const run of runs) {
      const block = Math.floor(run.offset / BLOCK);
      const within = Math.floor((run.offset + run.bytes - 1) / BLOCK) === block;
      const key = `${gen}:${block}`;
      if (within && (block === current || this.#blocks.has(key) || (dense.get(block) ?? 0) >= DENSE)) {
        if (block !== current) data = this.#block(key, fd, path, block, stable);
        current = block;
        const from = run.offset - block * BLOCK;
        take(data, from, Math.min(from + run.bytes, data.length), run.offset);
        continue;
      }
      if (this.#scratch.length < run.bytes) this.#scratch = Buffer.allocUnsafe(run.bytes);
      take(this.#scratch, 0, readFully(fd, path, this.#scratch, run.bytes, run.offset), run.offset);
    }
  }

  /** Block `block` of a file, from the cache or read now (and kept when it can no longer change). */
  #block(key: string, fd: number, path: string, block: number, stable: number): Buffer {
    const kept = this.#blocks.get(key);
    if (kept !== undefined) {
      this.#blocks.delete(key);
      this.#blocks.set(key, kept);
      return kept;
    }
    const data = Buffer.allocUnsafe(BLOCK);
    const got = readFully(fd, path, data, BLOCK, block * BLOCK);
    if (got === BLOCK && (block + 1) * BLOCK <= stable) {
      this.#blocks.set(key, data);
      if (this.#blocks.size > BLOCKS) this.#blocks.delete(this.#blocks.keys().next().value as string);
    }
    return data.subarray(0, got);
  }

  #armClear(): void {
    if (this.#timer !== undefined) this.#timer.refresh();
    else this.#timer = setTimeout(readerOnIdle, KEEP_MS, this).unref();
  }

  /** Drops the kept blocks. */
  clear(): void {
    this.#blocks.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * File `gen` open for reading, if it is still the file the store wrote: the live file is read
   * through the writer's descriptor (`own` false), a rotated one through a descriptor of its own.
   */
  open(gen: number): { fd: number; path: string; own: boolean } | undefined {
    const live = this.#layout.live();
    if (gen === live.gen) return { fd: live.fd, path: this.#layout.file, own: false };
    const opened = this.#openOwn(gen);
    return opened === undefined ? undefined : { ...opened, own: true };
  }

  /**
   * Opens file `gen` with a descriptor of its own, checking by inode that it is the file the store
   * wrote. The live file is looked for under its rotated name too, in case a rotation is renaming
   * it right now.
   */
  #openOwn(gen: number): { fd: number; path: string } | undefined {
    const live = this.#layout.live();
    const { file, files } = this.#layout;
    const ino = gen === live.gen ? live.ino : files.get(gen);
    if (ino === undefined) return undefined;
    for (const path of gen === live.gen ? [file, rotatedPath(file, gen)] : [rotatedPath(file, gen)]) {
      const fd = openIfThere(path);
      if (fd === undefined) continue;
      if (fstatSync(fd).ino === ino) return { fd, path };
      closeSync(fd);
    }
    return undefined;
  }

  /**
   * Scans the log from `from` (undefined: its oldest file) to its end. Every file is opened before
   * the scan starts, so a rotation meanwhile neither hides nor repeats a line.
   */
  async scan(from: LogPosition | undefined, visit: (line: ScannedLine) => void): Promise<void> {
    const gens = [...this.#layout.files.keys(), this.#layout.live().gen].sort((a, b) => a - b);
    const start = from ?? { gen: gens[0] as number, offset: 0 };
    const targets: ScanTarget[] = [];
    try {
      for (const gen of gens) {
        if (gen < start.gen) continue;
        const opened = this.#openOwn(gen);
        if (opened !== undefined) targets.push({ gen, fd: opened.fd, path: opened.path, from: gen === start.gen ? start.offset : 0 });
      }
      await scanFiles(targets, visit);
    } finally {
      for (const target of targets) closeSync(target.fd);
    }
  }

  /**
   * A room's events after `since` (at most `limit`, none above `last`) in its sequence `epoch`,
   * found by scanning every retained file, then read by position.
   */
  async scanRoom(room: string, epoch: string, since: number, last: number, limit: number): Promise<HubEvent<unknown>[]> {
    const found = new Map<number, Span[]>();
    let count = 0;
    let current = true;
    let previous = 0;
    await this.scan(undefined, (line) => {
      if (line.room !== room) return;
      if (line.kind === 'epoch') {
        // Events before another epoch's line belong to another sequence.
        current = line.epoch === epoch;
        if (!current) {
          found.clear();
          count = 0;
        }
        return;
      }
      if (!current) return;
      // Ids that start again below the last one: an earlier run of the room, as the heads have it.
      if (line.id <= previous) {
        found.clear();
        count = 0;
      }
      previous = line.id;
      if (line.id <= since || line.id > last || count >= limit) return;
      let spans = found.get(line.gen);
      if (spans === undefined) found.set(line.gen, (spans = []));
      spans.push({ offset: line.offset, bytes: line.bytes });
      count++;
    });
    const events: HubEvent<unknown>[] = [];
    for (const gen of [...found.keys()].sort((a, b) => a - b)) {
      const runs = (found.get(gen) as Span[]).map((span) => ({ gen, offset: span.offset, bytes: span.bytes, firstId: 0 }));
      this.readRuns(runs, (event) => void events.push(event));
    }
    return events;
  }
}

function readerOnIdle(reader: StoreReader): void {
  reader.clear();
}
