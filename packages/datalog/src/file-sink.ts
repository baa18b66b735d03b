import { close, fstatSync, fsync, ftruncateSync, open, openSync, write, closeSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LogFileRemovedError, LogOpenError, LogWriteError, TornLineError } from './errors.js';
import { completeLength, inodeOf, listRotated, rotatedPath } from './log-files.js';
import type { ResolvedLogOptions } from './options.js';

/** Emitted after each batch reached the file (and, unless the policy is `never`, after its fsync). */
export interface FlushNotice {
  /** The file the batch went to. */
  readonly file: string;
  /** Lines in the batch. */
  readonly events: number;
  /** Whether the batch was fsynced: every event up to `lastIds` survives a power loss. */
  readonly synced: boolean;
  /** The id of the batch's last event per room: every event of that room up to it is in the file. */
  readonly lastIds: ReadonlyMap<string, number>;
}

/** Where a sink sends what has no caller: write-time errors and flush notices. */
export interface SinkHooks {
  report(error: Error): void;
  flushed(notice: FlushNotice): void;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: () => void;
}

/** Opens `file` for appending, or throws a {@link LogOpenError}. */
function openForAppend(file: string): number {
  try {
    return openSync(file, 'a+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new LogOpenError(`Cannot open log file ${file} for appending (${code})`, file, { cause: error });
  }
}

function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const step = (offset: number): void => {
      write(fd, data, offset, data.length - offset, null, (error, written) => {
        if (error !== null) reject(error);
        else if (offset + written < data.length) step(offset + written);
        else resolve();
      });
    };
    step(0);
  });
}

function syncFd(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fsync(fd, (error) => (error === null ? resolve() : reject(error)));
  });
}

function closeFd(fd: number): Promise<void> {
  return new Promise<void>((resolve) => {
    close(fd, () => resolve());
  });
}

/** Makes a rename or a new file in `folder` durable. Best effort: some file systems refuse it. */
function syncFolder(folder: string): Promise<void> {
  return new Promise<void>((resolve) => {
    open(folder, 'r', (error, fd) => {
      if (error !== null) return resolve();
      fsync(fd, () => close(fd, () => resolve()));
    });
  });
}

/**
 * One open log file and its batch: lines are appended synchronously into memory and written by
 * one write loop, a batch per `write`, when the batch is full, when `flushInterval` passes, or
 * when a flush is asked for. Shared by every attachment that logs to the same path.
 */
export class FileSink {
  /** The absolute path of the live file. */
  readonly file: string;
  readonly #options: ResolvedLogOptions;
  readonly #hooks: SinkHooks;
  #fd: number;
  #ino: number;
  #size: number;
  /** The waiting lines, with each line's room and id at the same index. */
  #lines: string[] = [];
  #rooms: string[] = [];
  #ids: number[] = [];
  #inFlight = 0;
  #appended = 0;
  #done = 0;
  #writing = false;
  #due = false;
  #timer: NodeJS.Timeout | undefined;
  #flushWaiters: FlushWaiter[] = [];
  #roomWaiters: (() => void)[] = [];
  #refs = 0;

  /**
   * Opens (or creates) `file` for appending; a partial last line left by a crash is cut off and
   * reported as a {@link TornLineError}.
   * @throws {LogOpenError} when the file cannot be opened
   */
  constructor(file: string, options: ResolvedLogOptions, hooks: SinkHooks) {
    this.file = file;
    this.#options = options;
    this.#hooks = hooks;
    this.#fd = openForAppend(file);
    try {
      const stats = fstatSync(this.#fd);
      this.#ino = stats.ino;
      this.#size = this.#cutTornTail(stats.size);
    } catch (error) {
      closeSync(this.#fd);
      if (error instanceof LogOpenError) throw error;
      throw new LogOpenError(`Cannot prepare log file ${file} (${String(error)})`, file, { cause: error });
    }
  }

  /** Attachments using this sink. */
  get refs(): number {
    return this.#refs;
  }

  /** Counts one more attachment. */
  retain(): void {
    this.#refs++;
  }

  /**
   * Appends one line. Returns a promise only when the caller must wait: under the `event` policy
   * (until this line is synced) or when `maxPending` lines are held in memory (until there is room).
   */
  append(line: string, chatroomId: string, id: number): void | Promise<void> {
    this.#lines.push(line);
    this.#rooms.push(chatroomId);
    this.#ids.push(id);
    this.#appended++;
    if (this.#options.fsync === 'event') return this.flush();
    if (this.#lines.length >= this.#options.batchSize) {
      if (!this.#writing) this.#startWriting();
    } else if (this.#timer === undefined && !this.#writing) {
      this.#arm();
    }
    if (this.#lines.length + this.#inFlight >= this.#options.maxPending) return this.#whenRoom();
    return undefined;
  }

  /** Resolves once every line appended before the call has been written (and synced per policy) or reported failed. */
  flush(): Promise<void> {
    if (this.#done >= this.#appended) return Promise.resolve();
    const target = this.#appended;
    const done = new Promise<void>((resolve) => this.#flushWaiters.push({ target, resolve }));
    if (!this.#writing) this.#startWriting();
    return done;
  }

  /**
   * Drops one attachment: flushes, and when it was the last, closes the file. Never rejects.
   * @returns whether the sink is now closed
   */
  async release(): Promise<boolean> {
    this.#refs--;
    await this.flush();
    if (this.#refs > 0) return false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await closeFd(this.#fd);
    return true;
  }

  #cutTornTail(size: number): number {
    const complete = completeLength(this.#fd, size);
    if (complete === size) return size;
    ftruncateSync(this.#fd, complete);
    this.#hooks.report(
      new TornLineError(`Cut a partial last line of ${size - complete} bytes from ${this.file}`, this.file, complete, size - complete),
    );
    return complete;
  }

  #arm(): void {
    this.#timer = setTimeout(sinkOnTimer, this.#options.flushInterval, this);
  }

  /** @internal called by the flush timer */
  onTimer(): void {
    this.#timer = undefined;
    if (this.#writing) this.#due = true;
    else if (this.#lines.length > 0) this.#startWriting();
  }

  #startWriting(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#drain();
  }

  #mustWrite(): boolean {
    if (this.#lines.length === 0) return false;
    if (this.#due || this.#lines.length >= this.#options.batchSize) return true;
    const waiter = this.#flushWaiters[0];
    return waiter !== undefined && waiter.target > this.#done;
  }

  /** The one write loop. Never rejects: failures are reported and the loop goes on. */
  async #drain(): Promise<void> {
    this.#writing = true;
    do {
      const [lines, lastIds] = this.#takeBatch();
      this.#inFlight = lines.length;
      await this.#writeBatch(lines, lastIds);
      this.#inFlight = 0;
      this.#done += lines.length;
      this.#wake();
    } while (this.#mustWrite());
    this.#writing = false;
    if (this.#lines.length > 0 && this.#timer === undefined) this.#arm();
  }

  /** Takes up to `batchSize` waiting lines, with the last id of each room among them. */
  #takeBatch(): [string[], Map<string, number>] {
    const size = this.#options.batchSize;
    let lines = this.#lines;
    let rooms = this.#rooms;
    let ids = this.#ids;
    if (lines.length <= size) {
      this.#lines = [];
      this.#rooms = [];
      this.#ids = [];
      this.#due = false;
    } else {
      this.#lines = lines.slice(size);
      this.#rooms = rooms.slice(size);
      this.#ids = ids.slice(size);
      lines = lines.slice(0, size);
      rooms = rooms.slice(0, size);
      ids = ids.slice(0, size);
    }
    const lastIds = new Map<string, number>();
    for (let i = 0; i < rooms.length; i++) lastIds.set(rooms[i] as string, ids[i] as number);
    return [lines, lastIds];
  }

  #wake(): void {
    if (this.#flushWaiters.length > 0) {
      const waiting: FlushWaiter[] = [];
      for (const waiter of this.#flushWaiters) {
        if (waiter.target <= this.#done) waiter.resolve();
        else waiting.push(waiter);
      }
      this.#flushWaiters = waiting;
    }
    if (this.#roomWaiters.length > 0 && this.#lines.length < this.#options.maxPending) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #whenRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
  }

  async #writeBatch(lines: string[], ids: Map<string, number>): Promise<void> {
    const data = Buffer.from(`${lines.join('\n')}\n`);
    try {
      await this.#checkFile();
      if (this.#size > 0 && this.#size + data.length > this.#options.maxBytes) await this.#rotate();
      await writeAll(this.#fd, data);
      this.#size += data.length;
    } catch (error) {
      this.#hooks.report(new LogWriteError(`Cannot write ${lines.length} events to ${this.file}`, this.file, lines.length, { cause: error }));
      return;
    }
    const synced = this.#options.fsync !== 'never';
    if (synced) {
      try {
        await syncFd(this.#fd);
      } catch (error) {
        this.#hooks.report(new LogWriteError(`Cannot sync ${lines.length} events to ${this.file}`, this.file, lines.length, { cause: error }));
        return;
      }
    }
    this.#hooks.flushed({ file: this.file, events: lines.length, synced, lastIds: ids });
  }

  /** Reopens the path when the open file was removed or replaced behind the log's back. */
  async #checkFile(): Promise<void> {
    const ino = await inodeOf(this.file);
    if (ino === this.#ino) return;
    const fd = openForAppend(this.file);
    const old = this.#fd;
    this.#fd = fd;
    const stats = fstatSync(fd);
    this.#ino = stats.ino;
    this.#size = stats.size;
    await closeFd(old);
    this.#hooks.report(
      new LogFileRemovedError(`Log file ${this.file} was removed or replaced while open; reopened it`, this.file),
    );
  }

  /** Renames the live file to the next `<file>.<seq>`, opens a fresh one and deletes past `retain`. */
  async #rotate(): Promise<void> {
    const rotated = await listRotated(this.file);
    const seq = (rotated.at(-1)?.seq ?? 0) + 1;
    await rename(this.file, rotatedPath(this.file, seq));
    const fd = openForAppend(this.file);
    const old = this.#fd;
    this.#fd = fd;
    this.#ino = fstatSync(fd).ino;
    this.#size = 0;
    await closeFd(old);
    if (this.#options.fsync !== 'never') await syncFolder(dirname(this.file));
    const excess = rotated.length + 1 - this.#options.retain;
    const doomed = [...rotated.map((r) => r.path), rotatedPath(this.file, seq)].slice(0, Math.max(0, excess));
    for (const path of doomed) await unlink(path);
  }
}

function sinkOnTimer(sink: FileSink): void {
  sink.onTimer();
}
