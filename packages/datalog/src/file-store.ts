import { basename, resolve } from 'node:path';
import { randomId, type HubEvent, type RoomOpenOptions, type RoomState, type RoomStore } from '@msghub/messagehub';
import {
  LogClosedError,
  LogEncodeError,
  LogIndexError,
  LogOptionError,
  LogRoomNotOpenError,
  LogSequenceError,
  LogWriteError,
  MalformedLineError,
} from './errors.js';
import { describe, resolveStoreOptions, type FileStoreOptions, type ResolvedStoreOptions } from './options.js';
import { encodeIndex, indexPath, RoomHead, writeIndex, type IndexData, type LogPosition, type Run } from './room-index.js';
import { StoreReader } from './store-reader.js';
import { before, learnLine, recover } from './store-recovery.js';
import { StoreWriter, type PlacedRun, type StoreRecord, type WriterHooks } from './store-writer.js';

/** Thrown inside the store when a room's lines are not where its runs say. */
class RunMismatch extends Error {}

interface Waiter {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function waiter(): Waiter {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

function noop(): void {}

/**
 * The durable {@link RoomStore}: every room's events in one JSON-lines log (the format `readLog`,
 * `followLog` and `msghub-log` read), with the rooms' heads in an index beside it, so a restart
 * reads the index and the log's tail instead of the whole log.
 *
 * `append` resolves once the batch is in the file: after the write under `fsync: 'never'` (it
 * survives a crash of the process), after the write and an fsync under `batch` and `event` (it
 * survives power loss too). A room's epoch is written to the log with its first batch and kept
 * across restarts. See docs/datalog.md.
 *
 * @example
 * const store = new FileStore({ file: 'events.log' });
 * const hub = new MessageHub({ chatroomId: 'lobby', store });
 * await hub.publish('hello', { from: 'ada' }); // in the file (and synced) before anyone sees it
 * await hub.close();
 * await store.close();
 */
export class FileStore implements RoomStore {
  /** The hub hands the store each event's JSON text: lines are written as they come, never encoded again. */
  readonly encodes = true;
  /** The absolute path of the log. */
  readonly file: string;
  readonly #options: ResolvedStoreOptions;
  readonly #ready: Promise<void>;
  #writer: StoreWriter | undefined;
  #reader: StoreReader | undefined;
  #heads = new Map<string, RoomHead>();
  /** The rotated files: generation to inode. */
  #files = new Map<number, number>();
  #closing: Promise<void> | undefined;
  /** Log bytes written since the index was last taken, and the index's size then. */
  #sinceCheckpoint = 0;
  #indexBytes = 0;
  /** Callers waiting for the next index to be written, and whether one is being written. */
  #nextCheckpoint: Waiter | undefined;
  #checkpointing = false;

  /**
   * Starts opening the log (created if missing) and finding every room's head; `open`, `read` and
   * `close` wait for it. A log that cannot be opened or read fails every `open`.
   *
   * @throws {LogOptionError} when an option has the wrong type or range
   */
  constructor(options: FileStoreOptions) {
    this.#options = resolveStoreOptions(options);
    this.file = resolve(this.#options.file);
    this.#ready = this.#start();
    this.#ready.catch(noop);
  }

  /**
   * Opens a room: its epoch (a new one for a room the log has never held), last committed id and
   * latest `historySize` events, read from memory or from where the index says they are.
   *
   * @returns rejects with {@link LogOpenError}, {@link LogReadError} or {@link MalformedLineError}
   *   when the log could not be opened or read, {@link LogClosedError} after `close()`
   */
  async open<T>(room: string, options: RoomOpenOptions): Promise<RoomState<T>> {
    await this.#ready;
    if (this.#closing !== undefined) throw new LogClosedError('The store is closed');
    const size = options?.historySize;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new LogOptionError(`Expected \`historySize\` to be an integer >= 0, got ${describe(size)}`);
    }
    let head = this.#heads.get(room);
    if (head === undefined) {
      head = new RoomHead(room, randomId(), 0, this.#options.historySize, false);
      this.#heads.set(room, head);
    }
    if (head.failedAt !== undefined) await this.#recount(head, head.failedAt);
    head.keep = Math.max(head.keep, size);
    const history = await this.#history(head, size);
    if (head.tail === undefined) head.tail = [...history];
    head.open = true;
    return { epoch: head.epoch, lastEventId: head.lastEventId, history: history as HubEvent<T>[] };
  }

  /**
   * Writes a batch of the room's events (their `lines`, as the hub encoded them) and resolves once
   * they are in the file and synced per the policy. Batches of several rooms that arrive while a
   * write is in flight go out together with the next write.
   *
   * @returns rejects with {@link LogWriteError} (the outcome is unknown; the room takes no more
   *   appends until it is opened again), {@link LogRoomNotOpenError}, {@link LogSequenceError},
   *   {@link LogEncodeError} (no `lines`, and an event JSON cannot hold) or {@link LogClosedError}
   */
  append<T>(room: string, events: readonly HubEvent<T>[], lines: readonly string[] | undefined): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new LogClosedError('The store is closed'));
    const head = this.#heads.get(room);
    const writer = this.#writer;
    if (head === undefined || !head.open || writer === undefined) {
      return Promise.reject(new LogRoomNotOpenError(`Room ${room} is not open in this store`, room));
    }
    if (head.failedAt !== undefined) {
      return Promise.reject(new LogRoomNotOpenError(`Room ${room} stopped after a failed write; open it again`, room));
    }
    if (events.length === 0) return Promise.resolve();
    const expected = head.queuedId + 1;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as HubEvent<T>;
      if (event.id !== expected + i || event.chatroomId !== room) {
        const message = `Room ${room} expected event ${expected + i}, got ${event.chatroomId} #${event.id}`;
        return Promise.reject(new LogSequenceError(message, room, expected));
      }
    }
    let text: readonly string[];
    try {
      text = lines !== undefined && lines.length === events.length ? lines : events.map(encode);
    } catch (error) {
      return Promise.reject(error);
    }
    head.queuedId = expected + events.length - 1;
    return new Promise<void>((resolve, reject) => {
      writer.append({ head, events: events as readonly HubEvent<unknown>[], lines: text, resolve, reject });
    });
  }

  /**
   * The room's committed events with an id above `since`, oldest first, at most `limit`. Recent
   * ones (the latest `historySize`) come from memory or a few positioned reads; older ones cost a
   * scan of the whole log (every retained file). Events in files deleted by retention are gone.
   */
  async read<T>(room: string, since: number, limit = Infinity): Promise<HubEvent<T>[]> {
    await this.#ready;
    if (this.#closing !== undefined) throw new LogClosedError('The store is closed');
    const head = this.#heads.get(room);
    const last = head?.lastEventId ?? 0;
    if (head === undefined || since >= last || limit <= 0) return [];
    let events: HubEvent<unknown>[];
    const tail = head.tail;
    if (tail !== undefined && tail.length > 0 && (tail[0] as HubEvent<unknown>).id <= since + 1) events = tail;
    else if (head.firstRunId <= since + 1) events = await this.#readRecent(head, since);
    else events = await (this.#reader as StoreReader).scanRoom(room, head.epoch, since, last, limit);
    const out: HubEvent<T>[] = [];
    for (const event of events) {
      if (event.id <= since || event.id > last) continue;
      if (out.length >= limit) break;
      out.push(event as HubEvent<T>);
    }
    return out;
  }

  /**
   * The hub is done with the room: its events stay in the log, its head is written to the index,
   * and it may be opened again. Resolves once the index is written (or its failure reported);
   * never rejects.
   */
  async release(room: string): Promise<void> {
    const head = this.#heads.get(room);
    if (head === undefined) return;
    head.open = false;
    head.tail = undefined;
    if (this.#closing === undefined) await this.#checkpoint();
  }

  /**
   * Waits for the appends in flight, writes the index and closes the log. Idempotent; never
   * rejects. `open`, `append` and `read` fail with {@link LogClosedError} from the call on.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await this.#ready;
    } catch {
      return;
    }
    const writer = this.#writer as StoreWriter;
    await writer.idle();
    await this.#checkpoint();
    await writer.close();
    this.#reader?.clear();
  }

  async #start(): Promise<void> {
    const found = await recover(this.file, this.#options.historySize, this.#report);
    this.#heads = found.heads;
    this.#files = found.files;
    const writer = new StoreWriter(found, this.#options, this.#hooks);
    this.#writer = writer;
    this.#reader = new StoreReader({ file: this.file, files: this.#files, live: () => writer });
    if (found.stale) void this.#checkpoint();
  }

  readonly #hooks: WriterHooks = {
    committed: (record: StoreRecord, runs: readonly PlacedRun[]): void => {
      const { head } = record;
      for (const run of runs) head.addRun(run.gen, run.offset, run.bytes, run.firstId, run.lastId);
      head.durable = true;
      head.remember(record.events);
    },
    failed: (record: StoreRecord, from: LogPosition): void => {
      const { head } = record;
      if (head.failedAt === undefined || before(from, head.failedAt)) head.failedAt = from;
    },
    heads: () => this.#heads.values(),
    rotated: (gen: number, ino: number): void => {
      this.#files.set(gen, ino);
      void this.#checkpoint();
    },
    deleted: (gen: number): void => {
      this.#files.delete(gen);
    },
    written: (bytes: number): void => {
      this.#sinceCheckpoint += bytes;
      if (this.#sinceCheckpoint >= Math.max(this.#options.checkpointBytes, 8 * this.#indexBytes)) void this.#checkpoint();
    },
    report: (error: Error): void => this.#report(error),
  };

  /** Resolves once an index taken after this call is on disk, or its failure reported. Never rejects. */
  #checkpoint(): Promise<void> {
    if (this.#writer === undefined) return Promise.resolve();
    if (this.#nextCheckpoint === undefined) {
      this.#nextCheckpoint = waiter();
      const next = this.#nextCheckpoint;
      if (!this.#checkpointing) this.#takeCheckpoint();
      return next.promise;
    }
    return this.#nextCheckpoint.promise;
  }

  #takeCheckpoint(): void {
    const done = this.#nextCheckpoint as Waiter;
    const writer = this.#writer as StoreWriter;
    this.#nextCheckpoint = undefined;
    this.#checkpointing = true;
    // Taken between two writes: the heads account for exactly the lines the file holds.
    writer.whenQuiet(() => {
      const text = encodeIndex(this.#snapshot(writer));
      this.#sinceCheckpoint = 0;
      void writeIndex(this.file, text, this.#options.fsync !== 'never')
        .then(
          (bytes) => {
            this.#indexBytes = bytes;
          },
          (error: unknown) => {
            this.#report(new LogWriteError(`Cannot write the index ${indexPath(this.file)}`, indexPath(this.file), 0, { cause: error }));
          },
        )
        .then(() => {
          this.#checkpointing = false;
          done.resolve();
          if (this.#nextCheckpoint !== undefined) this.#takeCheckpoint();
        });
    });
  }

  #snapshot(writer: StoreWriter): IndexData {
    const rooms = [];
    for (const head of this.#heads.values()) {
      // A room that never wrote a batch has nothing to keep: it gets a new epoch next time.
      if (head.durable || head.lastEventId > 0 || head.failedAt !== undefined) rooms.push(head.toEntry());
    }
    return {
      version: 1,
      log: basename(this.file),
      live: [writer.gen, writer.ino, writer.size],
      files: [...this.#files],
      rooms,
    };
  }

  /** The room's latest `size` events: from memory when it has them, else from where the runs say. */
  async #history(head: RoomHead, size: number): Promise<HubEvent<unknown>[]> {
    if (size === 0 || head.lastEventId === 0) return [];
    const tail = head.tail;
    if (tail !== undefined && (tail.length >= size || (tail[0] as HubEvent<unknown> | undefined)?.id === head.firstRunId)) {
      return tail.slice(-size);
    }
    return (await this.#readRecent(head, head.lastEventId - size)).slice(-size);
  }

  /**
   * The room's events after `since` that its runs locate, read with positioned reads. When they
   * are not there (the log was changed in place behind the store's back), the room's runs are
   * found again by scanning the log; a damaged line then fails the scan.
   */
  async #readRecent(head: RoomHead, since: number): Promise<HubEvent<unknown>[]> {
    try {
      return this.#readRuns(head, head.runsAfter(since));
    } catch (error) {
      if (!(error instanceof RunMismatch || error instanceof MalformedLineError)) throw error;
      const where = indexPath(this.file);
      this.#report(new LogIndexError(`Room ${head.room} is not where the index says in ${this.file}; scanning the log for it`, where, 'mismatch', { cause: error }));
    }
    const found = new RoomHead(head.room, head.epoch, 0, head.keep, false);
    const heads = new Map([[head.room, found]]);
    await (this.#reader as StoreReader).scan(undefined, (line) => {
      if (line.room === head.room) learnLine(heads, line, head.keep);
    });
    if (found.epoch === head.epoch) head.takeRuns(found);
    try {
      return this.#readRuns(head, head.runsAfter(since));
    } catch (error) {
      if (!(error instanceof RunMismatch)) throw error;
      throw new LogIndexError(`Room ${head.room}'s lines in ${this.file} do not match its sequence`, this.file, 'mismatch', { cause: error });
    }
  }

  #readRuns(head: RoomHead, runs: readonly Run[]): HubEvent<unknown>[] {
    const events: HubEvent<unknown>[] = [];
    let previous = 0;
    (this.#reader as StoreReader).readRuns(runs, (event) => {
      if (event.chatroomId !== head.room || event.id <= previous || event.id > head.lastEventId) {
        throw new RunMismatch(`expected an event of room ${head.room} after #${previous}, found ${event.chatroomId} #${event.id}`);
      }
      previous = event.id;
      events.push(event);
    });
    return events;
  }

  /** After a failed batch: counts the room's lines the file holds from `from` on. */
  async #recount(head: RoomHead, from: LogPosition): Promise<void> {
    const heads = new Map([[head.room, head]]);
    await (this.#reader as StoreReader).scan(from, (line) => {
      if (line.room === head.room) learnLine(heads, line, head.keep);
    });
    head.failedAt = undefined;
    head.queuedId = head.lastEventId;
    head.tail = undefined;
  }

  readonly #report = (error: Error): void => {
    const { onError } = this.#options;
    if (onError === undefined) {
      console.error(error);
      return;
    }
    try {
      onError(error);
    } catch (thrown) {
      console.error(thrown);
    }
  };
}

/** An event's line, for a caller that did not hand the store its JSON text. */
function encode(event: HubEvent<unknown>): string {
  try {
    return JSON.stringify(event);
  } catch (error) {
    const message = `Event ${event.id} of room ${event.chatroomId} cannot be written as JSON`;
    throw new LogEncodeError(message, event.chatroomId, event.id, { cause: error });
  }
}
