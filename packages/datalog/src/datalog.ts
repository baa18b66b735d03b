import { resolve } from 'node:path';
import type { HubEvent, HubListener, ListenerHandle } from '@msghub/messagehub';
import { Observable, Subject } from 'rxjs';
import { LogClosedError, LogEncodeError } from './errors.js';
import { FileSink, type FlushNotice, type SinkHooks } from './file-sink.js';
import { resolveLogOptions, type DataLogOptions, type ResolvedLogOptions } from './options.js';

/** What the log needs of a room: its id and a way to attach a listener. `MessageHub` is one. */
export interface LoggableHub<T = string> {
  readonly chatroomId: string;
  attachListener(listener: HubListener<T>): ListenerHandle;
}

/** Returned by {@link DataLog.attach}. */
export interface LogAttachment {
  /** The absolute path of the file this room's events go to. */
  readonly file: string;
  /**
   * Stops logging this room after the events it already emitted, writes them (synced per policy)
   * and resolves. Idempotent; resolves at once when the room has closed.
   */
  detach(): Promise<void>;
}

/** The listener attached to one room: serialises each event (`JSON.stringify`) into its file's batch. */
class RoomListener<T> implements HubListener<T> {
  readonly #sink: FileSink;
  readonly #done: (listener: RoomListener<T>) => Promise<void>;
  readonly #report: (error: Error) => void;
  completed = false;

  constructor(sink: FileSink, done: (listener: RoomListener<T>) => Promise<void>, report: (error: Error) => void) {
    this.#sink = sink;
    this.#done = done;
    this.#report = report;
  }

  next(event: HubEvent<T>): void | Promise<void> {
    let line: string;
    try {
      line = JSON.stringify(event);
    } catch (error) {
      const message = `Event ${event.id} of room ${event.chatroomId} cannot be written as JSON; it is not in the log`;
      this.#report(new LogEncodeError(message, event.chatroomId, event.id, { cause: error }));
      return undefined;
    }
    return this.#sink.append(line, event.chatroomId, event.id);
  }

  complete(): Promise<void> {
    if (this.completed) return Promise.resolve();
    this.completed = true;
    return this.#done(this);
  }
}

interface Attached {
  readonly sink: FileSink;
  readonly handle: ListenerHandle;
}

/**
 * Appends every event of the rooms it is attached to as one JSON line (`JSON.stringify(event)`),
 * each room in its own order, to one shared file or one file per room. Lines are batched in memory
 * and written by one write loop per file; `fsync` chooses the durability (see docs/datalog.md).
 *
 * @example
 * const log = new DataLog({ file: 'events.log', fsync: 'batch' });
 * log.attach(hub);
 * // ... later: every event the room emitted is in events.log once this resolves
 * await hub.close();
 */
export class DataLog {
  readonly #options: ResolvedLogOptions;
  readonly #sinks = new Map<string, FileSink>();
  readonly #attached = new Map<RoomListener<unknown>, Attached>();
  readonly #errors = new Subject<Error>();
  readonly #flushes = new Subject<FlushNotice>();
  readonly #hooks: SinkHooks;
  #closing: Promise<void> | undefined;

  /** @throws {LogOptionError} when an option has the wrong type or range */
  constructor(options: DataLogOptions) {
    this.#options = resolveLogOptions(options);
    this.#hooks = { report: (error) => this.#report(error), flushed: (notice) => this.#flushes.next(notice) };
  }

  /**
   * Write-time problems that have no caller to go to: {@link LogWriteError},
   * {@link LogFileRemovedError}, {@link TornLineError} and {@link LogEncodeError}. The rooms keep running through all of them.
   */
  get errors(): Observable<Error> {
    return this.#errors.asObservable();
  }

  /**
   * One notice per batch once it is in the file (and synced, unless the policy is `never`). An event
   * is *acknowledged* when a notice's `lastIds` reaches its id: under `batch` and `event` it then
   * survives a crash of the process and of the machine; under `never`, a crash of the process.
   */
  get flushes(): Observable<FlushNotice> {
    return this.#flushes.asObservable();
  }

  /**
   * Starts logging `hub`: every event it emits from now on, `close` included, goes to its file.
   * The file is opened (created if missing) before this returns.
   *
   * @param hub the room to log, typically a `MessageHub`
   * @returns a handle to stop logging this room
   * @throws {LogOpenError} when the file cannot be opened for appending
   * @throws {LogClosedError} when the log is closing or closed
   */
  attach<T>(hub: LoggableHub<T>): LogAttachment {
    if (this.#closing !== undefined) throw new LogClosedError('The log is closed');
    const file = resolve(this.#options.file(hub.chatroomId));
    let sink = this.#sinks.get(file);
    // A sink still writing the lines of a detached room is reused, so a room attached again right
    // away is written after them, and two sinks never append to (or cut the tail of) one file.
    if (sink === undefined || sink.closing) {
      sink = new FileSink(file, this.#options, this.#hooks);
      this.#sinks.set(file, sink);
    }
    sink.retain();
    const listener = new RoomListener<T>(sink, this.#onComplete, this.#hooks.report);
    let handle: ListenerHandle;
    try {
      handle = hub.attachListener(listener);
    } catch (error) {
      listener.completed = true;
      void this.#release(sink);
      throw error;
    }
    this.#attached.set(listener as RoomListener<unknown>, { sink, handle });
    return { file, detach: () => (listener.completed ? Promise.resolve() : handle.detach()) };
  }

  /** Resolves once every event handed to the log so far is written (and synced per policy) or reported failed. */
  async flush(): Promise<void> {
    await Promise.all(Array.from(this.#sinks.values(), (sink) => sink.flush()));
  }

  /**
   * Detaches from every room still attached (their events so far are written), closes every file
   * and completes `errors` and `flushes`. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    await Promise.all(Array.from(this.#attached.values(), ({ handle }) => handle.detach()));
    await Promise.all(Array.from(this.#sinks.values(), (sink) => sink.flush()));
    this.#errors.complete();
    this.#flushes.complete();
  }

  readonly #onComplete = (listener: RoomListener<unknown>): Promise<void> => {
    const attached = this.#attached.get(listener);
    this.#attached.delete(listener);
    return attached === undefined ? Promise.resolve() : this.#release(attached.sink);
  };

  async #release(sink: FileSink): Promise<void> {
    const closed = await sink.release();
    if (closed && this.#sinks.get(sink.file) === sink) this.#sinks.delete(sink.file);
  }

  #report(error: Error): void {
    const { onError } = this.#options;
    if (onError !== undefined) {
      try {
        onError(error);
      } catch (thrown) {
        console.error(thrown);
      }
    } else if (this.#errors.observed) {
      this.#errors.next(error);
    } else {
      console.error(error);
    }
  }
}
