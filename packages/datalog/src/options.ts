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

/** Validates `options` and fills in the defaults. Throws {@link LogOptionError}. */
export function resolveLogOptions(options: DataLogOptions): ResolvedLogOptions {
  if (typeof options !== 'object' || options === null) {
    throw new LogOptionError(`Expected options to be an object, got ${describe(options)}`);
  }
  const fsync = options.fsync ?? 'batch';
  if (!POLICIES.includes(fsync)) {
    throw new LogOptionError(`Expected \`fsync\` to be 'never', 'batch' or 'event', got ${describe(fsync)}`);
  }
  const { onError } = options;
  if (onError !== undefined && typeof onError !== 'function') {
    throw new LogOptionError(`Expected \`onError\` to be a function, got ${describe(onError)}`);
  }
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
