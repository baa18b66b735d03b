import { LogOptionError } from './errors.js';

/** When the log calls fsync. See docs/datalog.md for the guarantee and cost of each. */
export type FsyncPolicy = 'never' | 'batch' | 'event';

/** Options of {@link DataLog}. Only `file` is required. */
export interface DataLogOptions {
  /**
   * Where events go: one path for every attached room (one shared file), or a function of the
   * room's id that returns its own path (one file per room). Paths are resolved against the
   * working directory; the folder must exist.
   */
  file: string | ((chatroomId: string) => string);
  /**
   * When to call fsync: `never` (leave it to the OS), `batch` (after every batch write) or
   * `event` (every event is written and synced on its own before the next is taken).
   * @default 'batch'
   */
  fsync?: FsyncPolicy;
  /** Lines per write: a batch is written as soon as it holds this many. @default 1024 */
  batchSize?: number;
  /**
   * Milliseconds a line may wait in memory for its batch to fill before it is written anyway.
   * @default 100
   */
  flushInterval?: number;
  /**
   * Lines held in memory (waiting or being written) before the listener asks the room to wait.
   * The room then holds its own `listenerBufferSize` more, and past that slows publishers. Lines
   * are kept encoded off the JS heap: ~6 MB at the default for ~100-byte events.
   * @default 65536
   */
  maxPending?: number;
  /**
   * Rotate a file before a write would take it past this many bytes. A batch is split at line
   * boundaries across rotations, so only a single line longer than this makes a file exceed it.
   * `Infinity` never rotates.
   * @default Infinity
   */
  maxBytes?: number;
  /** Rotated files kept per log file (the oldest beyond it are deleted). 0 keeps none. @default 5 */
  retain?: number;
  /**
   * Receives every write-time error ({@link LogWriteError}, {@link LogFileRemovedError},
   * {@link TornLineError}). When not set and nobody subscribes to `errors`, they go to `console.error`.
   */
  onError?: (error: Error) => void;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedLogOptions {
  readonly file: (chatroomId: string) => string;
  readonly fsync: FsyncPolicy;
  readonly batchSize: number;
  readonly flushInterval: number;
  readonly maxPending: number;
  readonly maxBytes: number;
  readonly retain: number;
  readonly onError: ((error: Error) => void) | undefined;
}

/** `batchSize: 0 (number)` style description of what was given. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} (${typeof value})`;
}

/** Checks that `value` is an integer ≥ `min` (or `Infinity` when allowed), or undefined (then `fallback`). */
export function integerOption(name: string, value: unknown, min: number, fallback: number, infinite = false): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && (Number.isSafeInteger(value) || (infinite && value === Infinity)) && value >= min;
  if (!ok) {
    const expected = infinite ? `an integer >= ${min} or Infinity` : `an integer >= ${min}`;
    throw new LogOptionError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
  }
  return value;
}

const POLICIES: readonly FsyncPolicy[] = ['never', 'batch', 'event'];

function fileOption(file: unknown): (chatroomId: string) => string {
  if (typeof file === 'function') return file as (chatroomId: string) => string;
  if (typeof file === 'string' && file.length > 0) return () => file;
  throw new LogOptionError(`Expected \`file\` to be a non-empty string or a function, got ${describe(file)}`);
}

function checkObject(options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new LogOptionError(`Expected options to be an object, got ${describe(options)}`);
  }
}

function fsyncOption(value: unknown): FsyncPolicy {
  const fsync = value ?? 'batch';
  if (!POLICIES.includes(fsync as FsyncPolicy)) {
    throw new LogOptionError(`Expected \`fsync\` to be 'never', 'batch' or 'event', got ${describe(fsync)}`);
  }
  return fsync as FsyncPolicy;
}

function onErrorOption(onError: unknown): ((error: Error) => void) | undefined {
  if (onError !== undefined && typeof onError !== 'function') {
    throw new LogOptionError(`Expected \`onError\` to be a function, got ${describe(onError)}`);
  }
  return onError as ((error: Error) => void) | undefined;
}

/** Validates `options` and fills in the defaults. Throws {@link LogOptionError}. */
export function resolveLogOptions(options: DataLogOptions): ResolvedLogOptions {
  checkObject(options);
  const fsync = fsyncOption(options.fsync);
  const onError = onErrorOption(options.onError);
  return {
    file: fileOption(options.file),
    fsync,
    batchSize: integerOption('batchSize', options.batchSize, 1, 1024),
    flushInterval: integerOption('flushInterval', options.flushInterval, 0, 100),
    maxPending: integerOption('maxPending', options.maxPending, 1, 65536),
    maxBytes: integerOption('maxBytes', options.maxBytes, 1, Infinity, true),
    retain: integerOption('retain', options.retain, 0, 5),
    onError,
  };
}

/** Options of `FileStore`. Only `file` is required. */
export interface FileStoreOptions {
  /**
   * The log every room goes to (one shared file of JSON lines, readable with `readLog` and
   * `msghub-log`). Its index is kept beside it as `<file>.index`. The folder must exist.
   */
  file: string;
  /**
   * What an acknowledged event survives: `never` (written: a crash or SIGKILL of the process),
   * `batch` (written and synced once per write: also power loss and kernel crashes) or `event`
   * (every event written and synced on its own: as `batch`, and slower).
   * @default 'batch'
   */
  fsync?: FsyncPolicy;
  /**
   * Rotate the log before a write would take it past this many bytes (`<file>.000001`, ...). A
   * write is split at line boundaries, so only a single line longer than this makes a file exceed
   * it. `Infinity` never rotates.
   * @default Infinity
   */
  maxBytes?: number;
  /** Rotated files kept (the oldest beyond it are deleted). 0 keeps none. @default 5 */
  retain?: number;
  /**
   * Events per room the store can give back without scanning the log: it keeps where the latest
   * this many events of every room are, and the events themselves while the room is open. A room
   * opened with a larger `historySize` gets that many.
   * @default 1024
   */
  historySize?: number;
  /**
   * Write the index again once the log has grown by this many bytes since the last time (or by
   * eight times the index's own size, when that is more). After a crash, a restart reads at most
   * this much of the log's tail. The index is also written on `release`, after each rotation and
   * on `close`. `Infinity` writes it only then.
   * @default 16777216 (16 MiB)
   */
  checkpointBytes?: number;
  /**
   * Receives the errors no call is waiting for: {@link TornLineError} (cut when the log is
   * opened), {@link LogIndexError} (the index was rebuilt), {@link LogFileRemovedError} and
   * {@link LogWriteError} (writing the index, deleting a rotated file).
   * @default console.error
   */
  onError?: (error: Error) => void;
}

/** `FileStore` options after validation, with defaults filled in. */
export interface ResolvedStoreOptions {
  readonly file: string;
  readonly fsync: FsyncPolicy;
  readonly maxBytes: number;
  readonly retain: number;
  readonly historySize: number;
  readonly checkpointBytes: number;
  readonly onError: ((error: Error) => void) | undefined;
}

/** Validates `FileStore` options and fills in the defaults. Throws {@link LogOptionError}. */
export function resolveStoreOptions(options: FileStoreOptions): ResolvedStoreOptions {
  checkObject(options);
  const { file } = options;
  if (typeof file !== 'string' || file.length === 0) {
    throw new LogOptionError(`Expected \`file\` to be a non-empty string, got ${describe(file)}`);
  }
  return {
    file,
    fsync: fsyncOption(options.fsync),
    maxBytes: integerOption('maxBytes', options.maxBytes, 1, Infinity, true),
    retain: integerOption('retain', options.retain, 0, 5),
    historySize: integerOption('historySize', options.historySize, 0, 1024),
    checkpointBytes: integerOption('checkpointBytes', options.checkpointBytes, 1, 16 * 1024 * 1024, true),
    onError: onErrorOption(options.onError),
  };
}
