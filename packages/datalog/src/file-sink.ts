import { closeSync, fstatSync, ftruncateSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LogFileRemovedError, LogOpenError, LogWriteError, TornLineError } from './errors.js';
import { closeFd, openForAppend, syncFd, syncFolder, truncateFd, writeChunks } from './file-io.js';
import { cutAt, firstLine, LineBuffer, type TakenLines } from './line-buffer.js';
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
  /**
   * The id of the batch's last event per room. Every event of the room up to it is acknowledged,
   * except those of an earlier batch that was reported as a {@link LogWriteError}.
   */
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

/**
 * One open log file and its waiting lines: lines are appended synchronously into memory and written
 * by one write loop, everything waiting in one `writev`, when `batchSize` lines wait, when
 * `flushInterval` passes, or when a flush is asked for. Shared by every attachment to the same path.
 */
export class FileSink {
  /** The absolute path of the live file. */
  readonly file: string;
  readonly #options: ResolvedLogOptions;
  readonly #hooks: SinkHooks;
  #fd: number;
  #ino: number;
  #size: number;
  #pending = new LineBuffer();
  #inFlight = 0;
  #appended = 0;
  #done = 0;
  #writing = false;
  #due = false;
  #timer: NodeJS.Timeout | undefined;
  #flushWaiters: FlushWaiter[] = [];
  #roomWaiters: (() => void)[] = [];
  #refs = 0;
  #closing = false;

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

  /** Whether the file is being or has been closed: a new attachment needs a new sink. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Counts one more attachment. Until the sink is closing, that may be after every attachment was released. */
  retain(): void {
    this.#refs++;
  }

  /**
   * Appends one line. Returns a promise only when the caller must wait: under the `event` policy
   * (until this line is synced) or when `maxPending` lines are held in memory (until there is room).
   */
  append(line: string, chatroomId: string, id: number): void | Promise<void> {
    this.#pending.push(line, chatroomId, id);
    this.#appended++;
    if (this.#options.fsync === 'event') return this.flush();
    // A room that has to wait for room is not also made to wait for flushInterval.
    const full = this.#pending.length + this.#inFlight >= this.#options.maxPending;
    if (full || this.#pending.length >= this.#options.batchSize) {
      if (!this.#writing) this.#startWriting();
    } else if (this.#timer === undefined && !this.#writing) {
      this.#arm();
    }
    return full ? this.#whenRoom() : undefined;
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
   * Drops one attachment: flushes, and when no attachment is left and nothing waits to be written,
   * closes the file. Never rejects.
   * @returns whether this call closed the sink
   */
  async release(): Promise<boolean> {
    this.#refs--;
    await this.flush();
    // An attachment may have taken the sink while it flushed, or another release still has lines to write.
    if (this.#refs > 0 || this.#closing || this.#done < this.#appended) return false;
    this.#closing = true;
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
    else if (this.#pending.length > 0) this.#startWriting();
  }

  #startWriting(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#drain();
  }

  #mustWrite(): boolean {
    if (this.#pending.length === 0) return false;
    if (this.#due || this.#pending.length >= this.#options.batchSize || this.#roomWaiters.length > 0) return true;
    const waiter = this.#flushWaiters[0];
    return waiter !== undefined && waiter.target > this.#done;
  }

  /** The one write loop. Never rejects: failures are reported and the loop goes on. */
  async #drain(): Promise<void> {
    this.#writing = true;
    // Look for a removed file when a loop starts, and at most once per flushInterval while it runs.
    let lastCheck = -Infinity;
    do {
      this.#due = false;
      const batch = this.#pending.take();
      this.#inFlight = batch.count;
      const now = performance.now();
      const check = now - lastCheck >= this.#options.flushInterval;
      if (check) lastCheck = now;
      await this.#writeBatch(batch, check);
      this.#inFlight = 0;
      this.#done += batch.count;
      this.#wake();
    } while (this.#mustWrite());
    this.#writing = false;
    if (this.#pending.length > 0 && this.#timer === undefined) this.#arm();
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
    if (this.#roomWaiters.length > 0 && this.#pending.length < this.#options.maxPending) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #whenRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
  }

  async #writeBatch(batch: TakenLines, check: boolean): Promise<void> {
    const { count } = batch;
    try {
      if (check) await this.#checkFile();
      if (this.#size + batch.bytes <= this.#options.maxBytes) {
        await writeChunks(this.#fd, batch.chunks);
        this.#size += batch.bytes;
      } else {
        await this.#appendRotating(Buffer.concat(batch.chunks, batch.bytes));
      }
    } catch (error) {
      // A write cut short (disk full) leaves part of a line: cut it, or the next batch would
      // complete it into a malformed line in the middle of the file.
      await truncateFd(this.#fd, this.#size);
      this.#hooks.report(new LogWriteError(`Cannot write ${count} events to ${this.file}`, this.file, count, { cause: error }));
      return;
    }
    const synced = this.#options.fsync !== 'never';
    if (synced) {
      try {
        await syncFd(this.#fd);
      } catch (error) {
        this.#hooks.report(new LogWriteError(`Cannot sync ${count} events to ${this.file}`, this.file, count, { cause: error }));
        return;
      }
    }
    this.#hooks.flushed({ file: this.file, events: count, synced, lastIds: batch.lastIds });
  }

  /** Writes `data` in as many parts as it takes to keep each file within maxBytes, rotating between them. */
  async #appendRotating(data: Buffer): Promise<void> {
    let rest = data;
    while (rest.length > 0) {
      let cut = cutAt(rest, this.#options.maxBytes - this.#size);
      if (cut === 0 && this.#size > 0) {
        await this.#rotate();
        continue;
      }
      // A line longer than maxBytes alone still goes into a file of its own.
      if (cut === 0) cut = firstLine(rest);
      await writeChunks(this.#fd, [rest.subarray(0, cut)]);
      this.#size += cut;
      rest = rest.subarray(cut);
    }
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
    // Under `batch` and `event`, what the rotated file holds is durable before it is let go.
    if (this.#options.fsync !== 'never') await syncFd(this.#fd);
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
    // The batch goes on into the fresh file whatever happens to the old ones.
    for (const path of doomed) await this.#unlinkRotated(path);
  }

  async #unlinkRotated(path: string): Promise<void> {
    try {
      await unlink(path);
    } catch (error) {
      // Already gone (removed by hand or by another process) is what retention wanted.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.#hooks.report(new LogWriteError(`Cannot delete rotated log file ${path}`, this.file, 0, { cause: error }));
    }
  }
}

function sinkOnTimer(sink: FileSink): void {
  sink.onTimer();
}
