/**
 * Errors of the cluster. Each kind has its own class and a stable `code` (docs/errors.md). A room
 * whose store fails stops with the core's `StoreError` (`STORE_FAILED`), whose `cause` is one of these.
 */

/** The stable codes of {@link ClusterError}s. */
export type ClusterErrorCode = 'REDIS_UNAVAILABLE' | 'SEQUENCE_RESET' | 'MALFORMED_ENTRY';

/** Base class of every cluster error. */
export abstract class ClusterError extends Error {
  abstract readonly code: ClusterErrorCode;
}

/**
 * Redis did not answer a command in time, or the connection to it is down. For an append the
 * outcome is unknown: the events may or may not be in the room's stream.
 */
export class RedisUnavailableError extends ClusterError {
  override readonly name = 'RedisUnavailableError';
  readonly code = 'REDIS_UNAVAILABLE' as const;
}

/**
 * The room's sequence in Redis is not the one this node opened: Redis lost the room (a restart
 * without persistence, a flush) and it started again with another epoch. The room stops on this
 * node; its members reconnect and resume with a `reset` gap.
 */
export class SequenceResetError extends ClusterError {
  override readonly name = 'SequenceResetError';
  readonly code = 'SEQUENCE_RESET' as const;
  readonly room: string;

  constructor(message: string, room: string, options?: { cause?: unknown }) {
    super(message, options);
    this.room = room;
  }
}

/** An entry of a room's stream is not an event of that room (put there by someone else); it is skipped. */
export class MalformedEntryError extends ClusterError {
  override readonly name = 'MalformedEntryError';
  readonly code = 'MALFORMED_ENTRY' as const;
  readonly room: string;
  /** The stream id of the entry. */
  readonly entryId: string;

  constructor(message: string, room: string, entryId: string) {
    super(message);
    this.room = room;
    this.entryId = entryId;
  }
}

/** Whether `error` is a cluster error (of any kind). */
export function isClusterError(error: unknown): error is ClusterError {
  return error instanceof ClusterError;
}
