/**
 * A durable {@link OfflineQueue}: every push and acknowledgement is a JSON line appended to a
 * journal file and fsynced before it settles, so a sender's `ok` means the message survives a
 * crash of the process (SIGKILL) or of the machine. Opening replays the journal (dropping a torn
 * last line, acknowledged and expired messages) and rewrites it with only what is still pending;
 * while running it is rewritten the same way once it holds more than twice as many lines as there
 * are pending messages. Messages are also kept in memory, so `pending` reads no file.
 */
import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MalformedLineError, TornLineError } from '@msghub/datalog';
import {
  WaitingTable,
  expiryOf,
  resolveQueueLimits,
  type MemoryOfflineQueueOptions,
  type OfflineQueue,
  type QueueLimits,
  type Waiting,
} from './offline-queue.js';
import type { DirectFrame } from './protocol.js';

/** Options of {@link FileOfflineQueue.open}: the bounds of the memory queue, and where problems go. */
export interface FileOfflineQueueOptions extends MemoryOfflineQueueOptions {
  /**
   * Problems no caller hears of: a torn last line or a damaged line skipped at open
   * (`TornLineError`, `MalformedLineError` from `@msghub/datalog`), a failed rewrite.
   * @default console.error
   */
  onError?: (error: Error) => void;
}

/** One line of the journal. */
type JournalRecord =
  | { readonly op: 'push'; readonly user: string; readonly expiresAt: number; readonly message: DirectFrame }
  | { readonly op: 'ack'; readonly user: string; readonly ids: readonly string[] };

/** A line waiting to be written, and who waits for it. */
interface Append {
  readonly text: string;
  /** The pushed message, handed out only once its line is on disk. */
  readonly waiting: Waiting | undefined;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Below this many lines the journal is never rewritten while running. */
const MIN_COMPACT_LINES = 1024;

/**
 * A file-backed {@link OfflineQueue} with the bounds and TTL of `MemoryOfflineQueue`. One process
 * at a time may use a journal.
 * @example
 * const offlineQueue = await FileOfflineQueue.open('log/events.log.offline');
 * const server = new HubServer({ offlineQueue });
 * // on shutdown, after server.close():
 * await offlineQueue.close();
 */
export class FileOfflineQueue implements OfflineQueue {
  /** The journal's path. */
  readonly file: string;
  readonly #limits: QueueLimits;
  readonly #table: WaitingTable;
  readonly #report: (error: Error) => void;
  #handle: FileHandle;
  /** Bytes of the journal known to be complete lines. */
  #size: number;
  /** Lines in the journal. */
  #lines: number;
  #compactAt: number;
  #queued: Append[] = [];
  #draining = false;
  /** The write loop while it runs (settled once it stopped). */
  #writing: Promise<void> = Promise.resolve();
  /** Set when the journal could not be restored after a failed write: everything is refused. */
  #failure: Error | undefined;
  #closed = false;

  /**
   * Opens (or creates) the journal at `file`, with its folder: replays it, then rewrites it with
   * only the pending messages.
   * @throws {TypeError} for an option of the wrong type or range
   * @throws the file system's error when the journal cannot be read or written
   */
  static async open(file: string, options: FileOfflineQueueOptions = {}): Promise<FileOfflineQueue> {
    if (typeof file !== 'string' || file.length === 0) throw new TypeError(`Expected \`file\` to be a path, got ${String(file)}`);
    const limits = resolveQueueLimits(options);
    const report = options.onError ?? reportToConsole;
    if (typeof report !== 'function') throw new TypeError(`Expected \`onError\` to be a function, got ${typeof report}`);
    const table = new WaitingTable(limits);
    await mkdir(dirname(file), { recursive: true });
    await replay(file, table, limits.clock(), report);
    const written = await writeSnapshot(file, table, limits.clock());
    return new FileOfflineQueue(file, limits, table, report, written);
  }

  private constructor(file: string, limits: QueueLimits, table: WaitingTable, report: (error: Error) => void, written: Snapshot) {
    this.file = file;
    this.#limits = limits;
    this.#table = table;
    this.#report = report;
    this.#handle = written.handle;
    this.#size = written.size;
    this.#lines = written.lines;
    this.#compactAt = Math.max(MIN_COMPACT_LINES, 2 * written.lines);
  }

  /** Messages held, over all users (expired ones included until met, and pushes not yet on disk). */
  get size(): number {
    return this.#table.size;
  }

  /** Resolves true once the message's line is on disk (fsynced); false at a bound. */
  push(userId: string, message: DirectFrame, ttlMs?: number): Promise<boolean> {
    const now = this.#limits.clock();
    const expiresAt = expiryOf(now, ttlMs, this.#limits.ttlMs);
    const waiting: Waiting = { message, expiresAt, ready: false };
    if (!this.#table.add(userId, waiting, now)) return Promise.resolve(false);
    let text: string;
    try {
      text = encode({ op: 'push', user: userId, expiresAt, message });
    } catch (error) {
      this.#table.drop(userId, waiting);
      return Promise.reject(error);
    }
    return this.#append(text, waiting).then(
      () => true,
      (error: unknown) => {
        this.#table.drop(userId, waiting);
        throw error;
      },
    );
  }

  /** The user's messages on disk, not acknowledged and not expired, oldest first. */
  pending(userId: string): readonly DirectFrame[] {
    return this.#table.pending(userId, this.#limits.clock());
  }

  /** Forgets the messages at once; resolves once the acknowledgement is on disk (nothing to write for unknown ids). */
  ack(userId: string, ids: readonly string[]): Promise<void> | undefined {
    const removed = this.#table.remove(userId, ids);
    if (removed.length === 0) return undefined;
    return this.#append(encode({ op: 'ack', user: userId, ids: removed }));
  }

  /** Waits for what is being written, then closes the journal. Later pushes and acks reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writing;
    await this.#handle.close();
  }

  #append(text: string, waiting?: Waiting): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`The offline queue ${this.file} is closed`));
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#queued.push({ text, waiting, resolve, reject });
      if (this.#draining) return;
      this.#draining = true;
      this.#writing = this.#drain();
    });
  }

  /** The one write loop: what was appended meanwhile goes out in one write and one fsync (group commit). */
  async #drain(): Promise<void> {
    while (this.#queued.length > 0) {
      const batch = this.#queued;
      this.#queued = [];
      if (this.#failure !== undefined) {
        for (const append of batch) append.reject(this.#failure);
        continue;
      }
      let bytes: Buffer;
      try {
        bytes = Buffer.from(batch.map((append) => append.text).join(''));
        await writeAll(this.#handle, bytes, this.#size);
        await this.#handle.datasync();
      } catch (error) {
        await this.#cutBack(error);
        for (const append of batch) append.reject(error);
        continue;
      }
      this.#size += bytes.length;
      this.#lines += batch.length;
      // Ready before any rewrite below, which keeps only ready messages.
      for (const append of batch) if (append.waiting !== undefined) append.waiting.ready = true;
      for (const append of batch) append.resolve();
      if (this.#lines >= this.#compactAt) await this.#compact();
    }
    this.#draining = false;
  }

  /** After a failed write: cuts the journal back to its last complete line, or gives up on it. */
  async #cutBack(cause: unknown): Promise<void> {
    try {
      await this.#handle.truncate(this.#size);
    } catch {
      this.#failure = new Error(`The offline queue ${this.file} could not be restored after a failed write`, { cause });
      this.#report(this.#failure);
    }
  }

  async #compact(): Promise<void> {
    try {
      const written = await writeSnapshot(this.file, this.#table, this.#limits.clock());
      const old = this.#handle;
      this.#handle = written.handle;
      this.#size = written.size;
      this.#lines = written.lines;
      await old.close().catch(() => undefined);
    } catch (error) {
      this.#report(new Error(`The offline queue ${this.file} could not be rewritten; it goes on growing`, { cause: error }));
    }
    this.#compactAt = Math.max(MIN_COMPACT_LINES, 2 * this.#lines);
  }
}

function encode(record: JournalRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** Reads the journal into `table`, reporting a torn last line and damaged lines (which are skipped). */
async function replay(file: string, table: WaitingTable, now: number, report: (error: Error) => void): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const complete = bytes.lastIndexOf(0x0a) + 1;
  if (complete < bytes.length) {
    report(new TornLineError(`The offline queue ${file} ends in a partial line (a write cut short); it is dropped`, file, complete, bytes.length - complete));
  }
  const lines = bytes.subarray(0, complete).toString('utf8').split('\n');
  lines.pop();
  lines.forEach((line, index) => {
    const record = parseRecord(line);
    if (record === undefined) {
      report(new MalformedLineError(`Line ${index + 1} of the offline queue ${file} is not a queue record; it is skipped`, file, index + 1));
    } else if (record.op === 'ack') {
      table.remove(record.user, record.ids);
    } else if (record.expiresAt > now) {
      // What was accepted once is kept, even past bounds lowered since.
      table.add(record.user, { message: record.message, expiresAt: record.expiresAt, ready: true }, now, true);
    }
  });
}

function parseRecord(line: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record['user'] !== 'string') return undefined;
  if (record['op'] === 'ack') {
    const ids = record['ids'];
    return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? (record as JournalRecord) : undefined;
  }
  const message = record['message'] as Partial<DirectFrame> | null | undefined;
  const valid =
    record['op'] === 'push' &&
    typeof record['expiresAt'] === 'number' &&
    typeof message === 'object' &&
    message !== null &&
    message.type === 'direct' &&
    typeof message.id === 'string';
  return valid ? (record as JournalRecord) : undefined;
}

interface Snapshot {
  /** Open on the journal for writing. */
  readonly handle: FileHandle;
  readonly size: number;
  readonly lines: number;
}

/**
 * Writes every pending message of `table` to a new file, fsyncs it and renames it over `file`: a
 * crash leaves either the old journal or the new one, whole.
 */
async function writeSnapshot(file: string, table: WaitingTable, now: number): Promise<Snapshot> {
  const texts: string[] = [];
  for (const [user, list] of table.entries()) {
    for (const { message, expiresAt, ready } of list) {
      if (ready && expiresAt > now) texts.push(encode({ op: 'push', user, expiresAt, message }));
    }
  }
  const bytes = Buffer.from(texts.join(''));
  const next = `${file}.rewrite`;
  const handle = await open(next, 'w');
  try {
    await writeAll(handle, bytes, 0);
    await handle.datasync();
    await rename(next, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(next, { force: true }).catch(() => undefined);
    throw error;
  }
  await syncFolder(dirname(file));
  return { handle, size: bytes.length, lines: texts.length };
}

/** Writes all of `bytes` at `position` (explicit: after a cut-back write the file offset is past the end). */
async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, position + offset);
    offset += bytesWritten;
  }
}

/** Makes a rename in `folder` durable. Best effort: some file systems refuse to fsync a folder. */
async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    await handle.sync().finally(() => handle.close());
  } catch {
    // The rename itself happened; only its durability across a power loss is less certain.
  }
}

function reportToConsole(error: Error): void {
  console.error('msghub offline queue:', error);
}
