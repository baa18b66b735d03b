/**
 * Errors that cross the wire. Each kind has its own class and a stable `code` from
 * {@link WireErrorCode} (docs/errors.md). Anything else thrown inside the server is normalised to
 * `INTERNAL` by {@link toWireError} before it reaches a client.
 */
import { SUPPORTED_VERSIONS, WIRE_ERROR_CODES, type WireErrorCode } from './protocol.js';

/** Base class of every error the server sends as an `error` frame. */
export abstract class WireError extends Error {
  abstract readonly code: WireErrorCode;
}

/** The frame is not a JSON object (or not valid UTF-8 / JSON at all). */
export class BadFrameError extends WireError {
  override readonly name = 'BadFrameError';
  readonly code = 'BAD_FRAME' as const;
}

/** The frame's `type` is not one the server knows. */
export class UnknownTypeError extends WireError {
  override readonly name = 'UnknownTypeError';
  readonly code = 'UNKNOWN_TYPE' as const;
}

/** A field is missing or has the wrong type. */
export class InvalidFieldError extends WireError {
  override readonly name = 'InvalidFieldError';
  readonly code = 'INVALID_FIELD' as const;
}

/** The frame is longer than `maxFrameBytes`. */
export class FrameTooLargeError extends WireError {
  override readonly name = 'FrameTooLargeError';
  readonly code = 'FRAME_TOO_LARGE' as const;
}

/** The frame nests arrays and objects deeper than `MAX_FRAME_DEPTH` (64) levels. */
export class FrameTooDeepError extends WireError {
  override readonly name = 'FrameTooDeepError';
  readonly code = 'FRAME_TOO_DEEP' as const;
}

/** A frame other than `hello`, `ping`, `pong` or `bye` arrived before `hello`. */
export class NotAuthenticatedError extends WireError {
  override readonly name = 'NotAuthenticatedError';
  readonly code = 'NOT_AUTHENTICATED' as const;
}

/** The authenticator rejected the credentials. Throw it from an `authenticate` hook. */
export class AuthFailedError extends WireError {
  override readonly name = 'AuthFailedError';
  readonly code = 'AUTH_FAILED' as const;
}

/** `hello.v` is not a version the server speaks. */
export class UnsupportedVersionError extends WireError {
  override readonly name = 'UnsupportedVersionError';
  readonly code = 'UNSUPPORTED_VERSION' as const;
  /** The versions the server speaks, sent in the error frame's `supported`. */
  readonly supported: readonly number[] = SUPPORTED_VERSIONS;
}

/** No `hello` completed within the auth timeout. */
export class AuthTimeoutError extends WireError {
  override readonly name = 'AuthTimeoutError';
  readonly code = 'AUTH_TIMEOUT' as const;
}

/** An authorization hook refused the join or publish. Throw it from a hook or handler. */
export class ForbiddenError extends WireError {
  override readonly name = 'ForbiddenError';
  readonly code = 'FORBIDDEN' as const;
}

/** The room does not exist and rooms are created only explicitly. */
export class RoomNotFoundError extends WireError {
  override readonly name = 'RoomNotFoundError';
  readonly code = 'ROOM_NOT_FOUND' as const;
}

/** The connection has not joined the room it names. */
export class NotJoinedError extends WireError {
  override readonly name = 'NotJoinedError';
  readonly code = 'NOT_JOINED' as const;
}

/** The connection has already joined the room. */
export class AlreadyJoinedError extends WireError {
  override readonly name = 'AlreadyJoinedError';
  readonly code = 'ALREADY_JOINED' as const;
}

/**
 * The room admits one session per user (`uniqueUsers`) and the connection's user is in it already,
 * through another connection.
 */
export class UserInRoomError extends WireError {
  override readonly name = 'UserInRoomError';
  readonly code = 'USER_IN_ROOM' as const;
}

/** `rooms.create(name, { ifExists: 'fail' })` found the room open already. */
export class RoomExistsError extends WireError {
  override readonly name = 'RoomExistsError';
  readonly code = 'ROOM_EXISTS' as const;
}

/** No handler is registered for the requested operation. */
export class UnknownOpError extends WireError {
  override readonly name = 'UnknownOpError';
  readonly code = 'UNKNOWN_OP' as const;
}

/** The connection sends frames faster than `rateLimit` allows. */
export class RateLimitedError extends WireError {
  override readonly name = 'RateLimitedError';
  readonly code = 'RATE_LIMITED' as const;
  /** When known: in how many ms the window that refused the frame ends (sent as `retryAfterMs`). */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: ErrorOptions & { retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The offline queue of the recipient is full. */
export class OfflineQueueFullError extends WireError {
  override readonly name = 'OfflineQueueFullError';
  readonly code = 'OFFLINE_QUEUE_FULL' as const;
}

/** An argument a handler received is malformed. Throw it from an RPC handler. */
export class InvalidArgumentWireError extends WireError {
  override readonly name = 'InvalidArgumentWireError';
  readonly code = 'INVALID_ARGUMENT' as const;
}

/** The recipient of a direct message is offline and there is no offline queue. */
export class NotFoundWireError extends WireError {
  override readonly name = 'NotFoundWireError';
  readonly code = 'NOT_FOUND' as const;
}

/**
 * `server.send(userId, data, { ttlMs: 0 })` (or the HTTP API's `send` with `ttlMs` 0) to a user
 * with no connection: it was to be delivered now or never, so nothing was queued.
 */
export class OfflineError extends WireError {
  override readonly name = 'OfflineError';
  readonly code = 'OFFLINE' as const;
}

/** A connection has as many streams running as `maxStreams` allows; the new one did not start. */
export class TooManyStreamsError extends WireError {
  override readonly name = 'TooManyStreamsError';
  readonly code = 'TOO_MANY_STREAMS' as const;
}

/** The handler of a `request` returned a stream, and the request did not ask for one (`stream: true`). */
export class StreamRequiredError extends WireError {
  override readonly name = 'StreamRequiredError';
  readonly code = 'STREAM_REQUIRED' as const;
}

/** A server request to a client (`server.request`, `connection.request`) got no answer in time. */
export class RequestTimeoutWireError extends WireError {
  override readonly name = 'RequestTimeoutWireError';
  readonly code = 'REQUEST_TIMEOUT' as const;
}

/** The connection ended before a server request to its client was answered. */
export class DisconnectedWireError extends WireError {
  override readonly name = 'DisconnectedWireError';
  readonly code = 'DISCONNECTED' as const;
}

/**
 * A client answered a server request with an `error`. `code` is the client's code when it is a
 * wire code (`UNKNOWN_OP` when the client has no handler for the op, `INTERNAL` when its handler
 * threw something without a code), else `INTERNAL`; `clientCode` is the code exactly as the client
 * sent it (an application's own code).
 */
export class ClientAnswerError extends WireError {
  override readonly name = 'ClientAnswerError';
  readonly code: WireErrorCode;
  /** The code as the client sent it. */
  readonly clientCode: string;

  constructor(clientCode: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.clientCode = clientCode;
    this.code = wireCodes.has(clientCode) ? (clientCode as WireErrorCode) : 'INTERNAL';
  }
}

/** Something failed inside the server; the details stay on the server (`cause`). */
export class InternalError extends WireError {
  override readonly name = 'InternalError';
  readonly code = 'INTERNAL' as const;
}

/**
 * A user id the protocol cannot carry (not a string of 1 to 256 characters) was given to a server
 * API: `server.tokens.issue()`. A `TypeError`; its `code` is the one a client gets for such an id
 * in a frame, and the one an RPC handler that lets it through answers with.
 */
export class InvalidUserIdError extends TypeError {
  override readonly name = 'InvalidUserIdError';
  readonly code = 'INVALID_FIELD' as const;
}

const wireCodes: ReadonlySet<string> = new Set<string>(WIRE_ERROR_CODES);

/**
 * Turns anything thrown into a {@link WireError}: wire errors pass through, errors whose `code`
 * is a wire code (the hub's `CLOSED`, `NOT_FOUND`, ...) keep it, everything else becomes `INTERNAL`.
 */
export function toWireError(error: unknown): WireError {
  if (error instanceof WireError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Error && typeof code === 'string' && wireCodes.has(code) && code !== 'INTERNAL') {
    return new CodedError(code as WireErrorCode, error.message, { cause: error });
  }
  return new InternalError('Internal server error', { cause: error });
}

/** A foreign error that carried a wire code. */
class CodedError extends WireError {
  override readonly name = 'WireError';
  readonly code: WireErrorCode;
  constructor(code: WireErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
