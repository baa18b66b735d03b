/**
 * Every error the hub raises carries a stable string `code`. Codes never change meaning; the
 * table in docs/errors.md lists them all. Test and branch on `code` (or the class), never on
 * the message text.
 */
export type HubErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_ARGUMENT'
  | 'ALREADY_EXISTS'
  | 'NOT_FOUND'
  | 'CLOSED'
  | 'BUFFER_OVERFLOW'
  | 'LISTENER_FAILED'
  | 'UNENCODABLE'
  | 'STORE_FAILED';

/** Base class of the hub's errors (except {@link InvalidOptionError}, which is a `TypeError`). */
export abstract class HubError extends Error {
  abstract readonly code: HubErrorCode;
}

/** An option passed to a constructor has the wrong type or range. Thrown synchronously. */
export class InvalidOptionError extends TypeError {
  override readonly name = 'InvalidOptionError';
  readonly code = 'INVALID_OPTION' as const;
}

/** A method argument is malformed: an empty or non-string id, a negative `since`, ... Thrown synchronously. */
export class InvalidArgumentError extends HubError {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'INVALID_ARGUMENT' as const;
}

/** `add()` named a (user, session) pair that is already in the room. */
export class AlreadyExistsError extends HubError {
  override readonly name = 'AlreadyExistsError';
  readonly code = 'ALREADY_EXISTS' as const;
}

/** `remove()` named a (user, session) pair that is not in the room. */
export class NotFoundError extends HubError {
  override readonly name = 'NotFoundError';
  readonly code = 'NOT_FOUND' as const;
}

/** The hub is closing or closed. */
export class ClosedError extends HubError {
  override readonly name = 'ClosedError';
  readonly code = 'CLOSED' as const;
}

/**
 * A session stream nobody subscribed to buffered more events than `sessionBufferSize`. The hub
 * removed the session (the room saw `remove`/`leave`); the stream replays what it buffered, then
 * errors with this.
 */
export class BufferOverflowError extends HubError {
  override readonly name = 'BufferOverflowError';
  readonly code = 'BUFFER_OVERFLOW' as const;
}

/** A listener threw or its promise rejected. Reported out of band; the listener stays attached. */
export class ListenerError extends HubError {
  override readonly name = 'ListenerError';
  readonly code = 'LISTENER_FAILED' as const;
}

/**
 * A message payload cannot be written as JSON (a BigInt, a cycle, nesting too deep for the
 * encoder). Refused before it got an id: the room's ids go on without a hole.
 */
export class UnencodableError extends HubError {
  override readonly name = 'UnencodableError';
  readonly code = 'UNENCODABLE' as const;
}

/**
 * The room's store failed to open the room or to commit a batch. The events of that batch were
 * delivered to nobody; whether they are in the store is unknown until the room is opened again.
 * The room stops: its sessions end with this error and its publishers are rejected with it.
 */
export class StoreError extends HubError {
  override readonly name = 'StoreError';
  readonly code = 'STORE_FAILED' as const;
}

const codes: ReadonlySet<string> = new Set<HubErrorCode>([
  'INVALID_OPTION',
  'INVALID_ARGUMENT',
  'ALREADY_EXISTS',
  'NOT_FOUND',
  'CLOSED',
  'BUFFER_OVERFLOW',
  'LISTENER_FAILED',
  'UNENCODABLE',
  'STORE_FAILED',
]);

/** Whether `error` is one of the hub's errors (by its `code`, so it works across package copies). */
export function isHubError(error: unknown): error is HubError | InvalidOptionError {
  if (!(error instanceof Error)) return false;
  const { code } = error as Error & { code?: unknown };
  return typeof code === 'string' && codes.has(code);
}
