/**
 * How a `FileStore` finds where every room stands when it starts: from the index and the log's
 * tail after it, or, when the index is missing or does not match the log, from the whole log.
 */
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs';
import { randomId } from '@msghub/messagehub';
import { LogIndexError, LogOpenError, LogReadError, TornLineError } from './errors.js';
import { openForAppend } from './file-io.js';
import { completeLength, listRotated, rotatedPath } from './log-files.js';
import { scanFile, type ScanTarget, type ScannedLine } from './log-scan.js';
import { indexPath, readIndex, RoomHead, type IndexData, type LogPosition } from './room-index.js';

/** What a store starts from. */
export interface Recovered {
  /** The live file, open for appending, its inode, size (a torn tail cut off) and generation. */
  readonly fd: number;
  readonly ino: number;
  readonly size: number;
  readonly gen: number;
  /** The rotated files: generation to inode. */
  readonly files: Map<number, number>;
  readonly heads: Map<string, RoomHead>;
  /** Bytes of the log read to get here (0 when the index was up to date). */
  readonly scanned: number;
  /** Whether the index on disk should be written again. */
  readonly stale: boolean;
}

/** Whether position `a` comes before `b` in the log. */
export function before(a: LogPosition, b: LogPosition): boolean {
  return a.gen < b.gen || (a.gen === b.gen && a.offset < b.offset);
}

/**
 * Applies one scanned line to the heads: an epoch line names (or renames) the room's sequence, an
 * event moves its head on and records where it is.
 */
export function learnLine(heads: Map<string, RoomHead>, line: ScannedLine, keep: number): void {
  let head = heads.get(line.room);
  if (line.kind === 'epoch') {
    if (head === undefined) heads.set(line.room, new RoomHead(line.room, line.epoch, line.id, keep, true));
    else if (head.epoch === line.epoch || !head.durable) {
      // The same sequence (an epoch line repeated at the top of a rotated file), or the first epoch
      // line of a room whose earlier events were logged without one: it goes on.
      head.epoch = line.epoch;
      head.durable = true;
      if (line.id > head.lastEventId) head.lastEventId = head.queuedId = line.id;
    } else head.startSequence(line.epoch, line.id);
    return;
  }
  if (head === undefined) {
    // Events with no epoch line before them (a log written by `DataLog`, or whose start retention
    // deleted): the room goes on at its next id under a new epoch, written with its next batch.
    head = new RoomHead(line.room, randomId(), 0, keep, false);
    heads.set(line.room, head);
  }
  head.addRun(line.gen, line.offset, line.bytes, line.id, line.id);
}

/**
 * Scans `targets` in order (each from its `from` offset to its end), handing each complete line to
 * `visit`.
 * @returns the bytes read
 */
export async function scanFiles(targets: readonly ScanTarget[], visit: (line: ScannedLine) => void): Promise<number> {
  let scanned = 0;
  for (const target of targets) scanned += (await scanFile(target, visit)) - target.from;
  return scanned;
}

/** Opens `path` for reading; undefined when it does not exist. */
export function openIfThere(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new LogReadError(`Cannot read log file ${path} (${code ?? String(error)})`, path, { cause: error });
  }
}

/** Opens the live file for appending and cuts a partial last line left by a crash. */
function openLive(file: string, report: (error: Error) => void): { fd: number; ino: number; size: number } {
  const fd = openForAppend(file);
  try {
    const stats = fstatSync(fd);
    const complete = completeLength(fd, stats.size);
    if (complete < stats.size) {
      ftruncateSync(fd, complete);
      report(new TornLineError(`Cut a partial last line of ${stats.size - complete} bytes from ${file}`, file, complete, stats.size - complete));
    }
    return { fd, ino: stats.ino, size: complete };
  } catch (error) {
    closeSync(fd);
    throw new LogOpenError(`Cannot prepare log file ${file} (${String(error)})`, file, { cause: error });
  }
}

/** The rotated files that exist, with their inode and size. */
async function statRotated(file: string): Promise<Map<number, { ino: number; size: number }>> {
  const found = new Map<number, { ino: number; size: number }>();
  for (const { path, seq } of await listRotated(file)) {
    const fd = openIfThere(path);
    if (fd === undefined) continue;
    try {
      const stats = fstatSync(fd);
      found.set(seq, { ino: stats.ino, size: stats.size });
    } finally {
      closeSync(fd);
    }
  }
  return found;
}

/**
 * Where the index's heads stop accounting for the log, or undefined when the index does not
 * describe this log: its live file must still be the live file, or the newest file rotated since,
 * and at least as long as the index says.
 */
function checkpointOf(index: IndexData, live: { ino: number; size: number }, rotated: Map<number, { ino: number; size: number }>): LogPosition | undefined {
  const [gen, ino, size] = index.live;
  const newest = Math.max(0, ...rotated.keys());
  if (ino === live.ino && size <= live.size && gen > newest) return { gen, offset: size };
  const renamed = rotated.get(gen);
  if (renamed !== undefined && renamed.ino === ino && size <= renamed.size) return { gen, offset: size };
  return undefined;
}

/**
 * Finds every room's head. With an index that matches the log, only the log after the index's
 * end is read (plus, for a room whose batch failed before the index was written, the log after
 * that batch). Without one, the whole log is read, rotated files first.
 *
 * @param keep events whose positions each room keeps (the store's `historySize`)
 * @throws {LogOpenError} when the log cannot be opened, {@link LogReadError} or
 *   {@link MalformedLineError} when a part of it that must be read cannot be
 */
export async function recover(file: string, keep: number, report: (error: Error) => void): Promise<Recovered> {
  const live = openLive(file, report);
  try {
    const rotated = await statRotated(file);
    const newest = Math.max(0, ...rotated.keys());
    let index = await readIndex(file);
    if (index === 'damaged') {
      report(new LogIndexError(`The index ${indexPath(file)} is damaged or not the index of ${file}; rebuilding it from the log`, indexPath(file), 'damaged'));
      index = undefined;
    }
    let checkpoint = index === undefined ? undefined : checkpointOf(index, live, rotated);
    if (index !== undefined && checkpoint === undefined) {
      report(new LogIndexError(`The index ${indexPath(file)} does not match ${file} (replaced, cut short or rotated away); rebuilding it from the log`, indexPath(file), 'stale'));
    }
    const heads = new Map<string, RoomHead>();
    const files = new Map<number, number>();
    for (const [gen, { ino }] of rotated) files.set(gen, ino);
    let gen = newest + 1;
    if (index !== undefined && checkpoint !== undefined) {
      gen = Math.max(gen, index.live[0]);
      for (const entry of index.rooms) heads.set(entry[0], RoomHead.fromEntry(entry));
      // A rotated file the index knew by another inode is not the one its runs point into.
      for (const [g, ino] of index.files) if (files.has(g) && files.get(g) !== ino) files.delete(g);
    } else {
      checkpoint = { gen: Math.min(gen, ...rotated.keys()), offset: 0 };
    }
    const end = checkpoint;
    let scanned = 0;
    // Rooms whose batch failed before the checkpoint are read again from that batch on.
    let from = end;
    for (const head of heads.values()) if (head.failedAt !== undefined && before(head.failedAt, from)) from = head.failedAt;
    const targets: ScanTarget[] = [];
    try {
      for (const g of [...files.keys()].sort((a, b) => a - b)) {
        if (g < from.gen) continue;
        const path = rotatedPath(file, g);
        const fd = openIfThere(path);
        if (fd !== undefined) targets.push({ gen: g, fd, path, from: g === from.gen ? from.offset : 0 });
      }
      targets.push({ gen, fd: live.fd, path: file, from: gen === from.gen ? from.offset : 0 });
      scanned = await scanFiles(targets, (line) => {
        if (before(line, end)) {
          const head = heads.get(line.room);
          if (head?.failedAt === undefined || before(line, head.failedAt)) return;
        }
        learnLine(heads, line, keep);
      });
    } finally {
      for (const target of targets) if (target.fd !== live.fd) closeSync(target.fd);
    }
    for (const head of heads.values()) head.failedAt = undefined;
    const stale = index === undefined ? heads.size > 0 || scanned > 0 : scanned > 0 || from !== end;
    return { fd: live.fd, ino: live.ino, size: live.size, gen, files, heads, scanned, stale };
  } catch (error) {
    closeSync(live.fd);
    throw error;
  }
}
