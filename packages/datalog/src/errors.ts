/**
 * Every error the datalog raises or reports carries a stable string `code`. Codes never change
 * meaning; docs/errors.md lists them all. Branch on `code` (or the class), never on the message.
 */
export type DatalogErrorCode =
  | 'LOG_INVALID_OPTION'
  | 'LOG_OPEN_FAILED'
  | 'LOG_WRITE_FAILED'
  | 'LOG_FILE_REMOVED'
  | 'LOG_CLOSED'
  | 'LOG_NOT_FOUND'
  | 'LOG_READ_FAILED'
  | 'LOG_MALFORMED_LINE'
  | 'LOG_TORN_LINE'
  | 'LOG_ENCODE_FAILED'
  | 'LOG_INDEX_INVALID'
  | 'LOG_ROOM_NOT_OPEN'
  | 'LOG_OUT_OF_SEQUENCE';

/** Base class of the datalog's errors (except {@link LogOptionError}, which is a `TypeError`). */
export abstract class DatalogError extends Error {
  abstract readonly code: DatalogErrorCode;
}

/** A datalog error about one file, named by `file`. */
abstract class FileError extends DatalogError {
  /** The file the error is about. */
  readonly file: string;

  constructor(message: string, file: string, options?: ErrorOptions) {
    super(message, options);
    this.file = file;
  }
}

/** An option of `new DataLog()` or of a reader has the wrong type or range. Thrown synchronously. */
export class LogOptionError extends TypeError {
  override readonly name = 'LogOptionError';
  readonly code = 'LOG_INVALID_OPTION' as const;
}

/** The log file could not be opened for appending (missing folder, a folder in the way, permissions). Thrown by `attach`. */
export class LogOpenError extends FileError {
  override readonly name = 'LogOpenError';
  readonly code = 'LOG_OPEN_FAILED' as const;
}

/**
 * A batch could not be written, synced or rotated (disk full, I/O error). Reported on `errors`;
 * the log goes on with the next batch. The `events` of a batch that failed to write are not in the
 * file (what a write cut short left of it is cut off); those of a batch that failed to sync are
 * written but not known to be durable. A rotated file that retention could not delete is reported
 * with `events` 0: nothing was lost.
 *
 * A `FileStore` rejects the `append` of each room in a batch that failed with it (`events` is that
 * room's part of the batch, whose outcome is unknown), and reports on `onError` the failures that
 * have no caller (writing the index, deleting a rotated file).
 */
export class LogWriteError extends FileError {
  override readonly name = 'LogWriteError';
  readonly code = 'LOG_WRITE_FAILED' as const;
  /** How many events the failed batch held. */
  readonly events: number;

  constructor(message: string, file: string, events: number, options?: ErrorOptions) {
    super(message, file, options);
    this.events = events;
  }
}

/**
 * The log file was removed or replaced while open. Reported on `errors`; the log reopens the path
 * and goes on. Events written before the removal are gone with the removed file.
 */
export class LogFileRemovedError extends FileError {
  override readonly name = 'LogFileRemovedError';
  readonly code = 'LOG_FILE_REMOVED' as const;
}

/** `attach` was called on a log that is closing or closed, or a `FileStore` was used after `close()`. */
export class LogClosedError extends DatalogError {
  override readonly name = 'LogClosedError';
  readonly code = 'LOG_CLOSED' as const;
}

/** A reader was given a log path with neither the file nor any rotated file of it. */
export class LogNotFoundError extends FileError {
  override readonly name = 'LogNotFoundError';
  readonly code = 'LOG_NOT_FOUND' as const;
}

/**
 * An event could not be written as JSON (`JSON.stringify` threw: a `BigInt` or a circular payload).
 * Its line is missing from the file; this error is how that loss is made explicit. The room goes on.
 */
export class LogEncodeError extends DatalogError {
  override readonly name = 'LogEncodeError';
  readonly code = 'LOG_ENCODE_FAILED' as const;
  /** The room of the event that was not written. */
  readonly chatroomId: string;
  /** The id of the event that was not written. */
  readonly eventId: number;

  constructor(message: string, chatroomId: string, eventId: number, options?: ErrorOptions) {
    super(message, options);
    this.chatroomId = chatroomId;
    this.eventId = eventId;
  }
}

/** A log file exists but could not be read (permissions, a folder, an I/O error). */
export class LogReadError extends FileError {
  override readonly name = 'LogReadError';
  readonly code = 'LOG_READ_FAILED' as const;
}

/**
 * A complete line (one that ends in a newline) is not a JSON event. The writer never produces one,
 * so the file was damaged or is not a msghub log. Fatal to the read.
 */
export class MalformedLineError extends FileError {
  override readonly name = 'MalformedLineError';
  readonly code = 'LOG_MALFORMED_LINE' as const;
  /** 1-based line number within `file`; 0 when the read started mid-file (see `offset`). */
  readonly line: number;
  /** Byte offset of the line within `file`, when known. */
  readonly offset: number | undefined;

  constructor(message: string, file: string, line: number, options?: ErrorOptions, offset?: number) {
    super(message, file, options);
    this.line = line;
    this.offset = offset;
  }
}

/**
 * A file ends in a partial line with no newline: a write cut short by a crash or power loss. It
 * was never acknowledged. Not fatal: readers skip it and report it through `onTorn`; the writer
 * cuts it off when it reopens the file and reports it on `errors`.
 */
export class TornLineError extends FileError {
  override readonly name = 'TornLineError';
  readonly code = 'LOG_TORN_LINE' as const;
  /** Byte offset where the partial line starts. */
  readonly offset: number;
  /** Length of the partial line in bytes. */
  readonly bytes: number;

  constructor(message: string, file: string, offset: number, bytes: number) {
    super(message, file);
    this.offset = offset;
    this.bytes = bytes;
  }
}

/**
 * The index beside a `FileStore`'s log (`<file>.index`) cannot be used: it is damaged, belongs to
 * another log, or no longer matches the log (its file was replaced, cut short, or rotated away).
 * Reported on `onError`; not fatal: the store rebuilds what it needs from the log itself.
 */
export class LogIndexError extends FileError {
  override readonly name = 'LogIndexError';
  readonly code = 'LOG_INDEX_INVALID' as const;
  /** `damaged` (unreadable, not an index of this log), `stale` (the log is not the one it describes) or `mismatch` (a room's lines are not where it says). */
  readonly reason: 'damaged' | 'stale' | 'mismatch';

  constructor(message: string, file: string, reason: 'damaged' | 'stale' | 'mismatch', options?: ErrorOptions) {
    super(message, file, options);
    this.reason = reason;
  }
}

/**
 * A `FileStore` was asked to append to a room it has not opened, or to a room whose earlier
 * append failed: the store no longer knows where that room stands until it is opened again
 * (which reads its head back from the file). Rejects the `append`.
 */
export class LogRoomNotOpenError extends DatalogError {
  override readonly name = 'LogRoomNotOpenError';
  readonly code = 'LOG_ROOM_NOT_OPEN' as const;
  /** The room. */
  readonly chatroomId: string;

  constructor(message: string, chatroomId: string, options?: ErrorOptions) {
    super(message, options);
    this.chatroomId = chatroomId;
  }
}

/**
 * A `FileStore` was handed a batch whose ids do not follow the room's last id one by one. Rejects
 * the `append`; nothing of the batch is written and the room goes on where it was.
 */
export class LogSequenceError extends DatalogError {
  override readonly name = 'LogSequenceError';
  readonly code = 'LOG_OUT_OF_SEQUENCE' as const;
  /** The room. */
  readonly chatroomId: string;
  /** The id the batch had to start with. */
  readonly expected: number;

  constructor(message: string, chatroomId: string, expected: number) {
    super(message);
    this.chatroomId = chatroomId;
    this.expected = expected;
  }
}

/** Whether `error` is one of the datalog's errors (by its `code`, so it works across package copies). */
export function isDatalogError(error: unknown): error is DatalogError | LogOptionError {
  if (!(error instanceof Error)) return false;
  const { code } = error as Error & { code?: unknown };
  return typeof code === 'string' && code.startsWith('LOG_');
}
