/**
 * Every error the client raises carries a stable string `code`: either a wire code the server sent
 * (docs/errors.md, "Wire") or one of the client's own codes (docs/errors.md, "Client"). Branch on
 * the class or the `code`, never on the message text.
 */
import type { WireErrorCode } from './protocol.js';

/** Codes the client raises on its own, without a server frame. */
export type ClientErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_ARGUMENT'
  | 'REQUEST_TIMEOUT'
  | 'CONNECT_TIMEOUT'
  | 'CONNECTION_FAILED'
  | 'DISCONNECTED'
  | 'CLIENT_CLOSED'
  | 'SEND_DISCARDED';

/** Every code a {@link ClientError} may carry. */
export type ErrorCode = ClientErrorCode | WireErrorCode;

/** Why a buffered frame was discarded. */
export type DiscardReason = 'timeout' | 'full' | 'closed';

/** Base class of the client's errors (except {@link InvalidOptionError}, which is a `TypeError`). */
export abstract class ClientError extends Error {
  abstract readonly code: ErrorCode;
}

/** An option has the wrong type or range. Thrown synchronously by the constructor or a method. */
export class InvalidOptionError extends TypeError {
  override readonly name = 'InvalidOptionError';
  readonly code = 'INVALID_OPTION' as const;
}

/** A method argument is malformed (an empty room name, a negative `since`, ...). Thrown synchronously. */
export class InvalidArgumentError extends TypeError {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'INVALID_ARGUMENT' as const;
}

/**
 * A `request`, `publishAsync` or `directAsync` got no answer within its timeout. The frame was
 * written (or, for a `request`, may still wait in the send buffer): whether the server acted on it
 * is unknown.
 */
export class RequestTimeoutError extends ClientError {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'REQUEST_TIMEOUT' as const;
}

/** A connection attempt did not reach `welcome` within `connectTimeoutMs`. */
export class ConnectTimeoutError extends ClientError {
  override readonly name = 'ConnectTimeoutError';
  readonly code = 'CONNECT_TIMEOUT' as const;
}

/** The carrier failed to open or broke (refused, reset, unparsable frame); `cause` holds the detail. */
export class ConnectionFailedError extends ClientError {
  override readonly name = 'ConnectionFailedError';
  readonly code = 'CONNECTION_FAILED' as const;
}

/**
 * The connection dropped after a frame was written and before its answer (`request`,
 * `publishAsync`, `directAsync`). The outcome is unknown: the server may or may not have acted on
 * it (a publish may be in the room). The client never resends such a frame.
 */
export class DisconnectedError extends ClientError {
  override readonly name = 'DisconnectedError';
  readonly code = 'DISCONNECTED' as const;
}

/** The client was closed (by `close()` or for good after a fatal server error). */
export class ClientClosedError extends ClientError {
  override readonly name = 'ClientClosedError';
  readonly code = 'CLIENT_CLOSED' as const;
}

/**
 * A frame was dropped before it was written: it waited too long in the send buffer, the buffer was
 * full, or the client closed (`cause` then holds why). The server never saw it: sending it again
 * cannot duplicate it.
 */
export class SendDiscardedError extends ClientError {
  override readonly name = 'SendDiscardedError';
  readonly code = 'SEND_DISCARDED' as const;
  /** Why the frame was dropped. */
  readonly reason: DiscardReason;

  constructor(reason: DiscardReason, message?: string, options?: ErrorOptions) {
    super(message ?? `Frame discarded from the send buffer (${reason})`, options);
    this.reason = reason;
  }
}

/** Fields of a server `error`, `bye` or `kicked` frame that an error keeps. */
export interface WireErrorDetail {
  readonly code: WireErrorCode;
  readonly message?: string;
  /** The type of the client frame that caused the error, when the server named it. */
  readonly frame?: string;
  /** The protocol versions the server speaks (with `UNSUPPORTED_VERSION`). */
  readonly supported?: readonly number[];
  /** With `RATE_LIMITED`: in how many ms the server takes frames again. */
  readonly retryAfterMs?: number;
}

/** An error the server reported with a wire code. Subclasses group the codes by kind. */
export class ServerError extends ClientError {
  override readonly name: string = 'ServerError';
  readonly code: WireErrorCode;
  /** The type of the client frame that caused the error, when the server named it. */
  readonly frame: string | undefined;

  constructor(detail: WireErrorDetail, options?: ErrorOptions) {
    super(detail.message ?? detail.code, options);
    this.code = detail.code;
    this.frame = detail.frame;
  }
}

/** `NOT_AUTHENTICATED`, `AUTH_FAILED`, `AUTH_TIMEOUT`: the server refused who we are. Fatal. */
export class AuthError extends ServerError {
  override readonly name: string = 'AuthError';
}

/** `UNSUPPORTED_VERSION`: the server does not speak protocol v1. Fatal. */
export class UnsupportedVersionError extends ServerError {
  override readonly name: string = 'UnsupportedVersionError';
  /** The versions the server speaks. */
  readonly supported: readonly number[];

  constructor(detail: WireErrorDetail, options?: ErrorOptions) {
    super(detail, options);
    this.supported = detail.supported ?? [];
  }
}

/** `BAD_FRAME`, `UNKNOWN_TYPE`, `INVALID_FIELD`, `FRAME_TOO_LARGE`, `FRAME_TOO_DEEP`, `UNENCODABLE`: the server could not use a frame. */
export class ProtocolError extends ServerError {
  override readonly name: string = 'ProtocolError';
}

/** `FORBIDDEN`: the authenticated user may not do this. */
export class ForbiddenError extends ServerError {
  override readonly name: string = 'ForbiddenError';
}

/** `ROOM_NOT_FOUND`, `NOT_JOINED`, `ALREADY_JOINED`: the room is not in the state the frame assumed. */
export class RoomError extends ServerError {
  override readonly name: string = 'RoomError';
}

/** `UNKNOWN_OP`: no request handler for the operation. */
export class UnknownOpError extends ServerError {
  override readonly name: string = 'UnknownOpError';
}

/** `RATE_LIMITED`: too many frames; slow down. */
export class RateLimitedError extends ServerError {
  override readonly name: string = 'RateLimitedError';
  /** In how many ms the server takes frames again, when it said so. */
  readonly retryAfterMs: number | undefined;

  constructor(detail: WireErrorDetail, options?: ErrorOptions) {
    super(detail, options);
    this.retryAfterMs = typeof detail.retryAfterMs === 'number' ? detail.retryAfterMs : undefined;
  }
}

/**
 * The server ended the connection (`bye` or `kicked`): `SHUTDOWN`, `IDLE_TIMEOUT`,
 * `HEARTBEAT_TIMEOUT`, `SLOW_CONSUMER` (the client reconnects), `SESSION_REPLACED`, `KICKED`
 * (fatal: reconnecting would fight the other session), `CLOSED`.
 */
export class ConnectionEndedError extends ServerError {
  override readonly name: string = 'ConnectionEndedError';
}

/**
 * `INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`, `OFFLINE_QUEUE_FULL`, `OFFLINE`, `STORE_FAILED` (the
 * outcome of the publish is unknown), `INTERNAL` and any code this client does not know.
 */
export class OperationError extends ServerError {
  override readonly name: string = 'OperationError';
}

type ServerErrorClass = new (detail: WireErrorDetail, options?: ErrorOptions) => ServerError;

const classByCode: Readonly<Partial<Record<WireErrorCode, ServerErrorClass>>> = {
  NOT_AUTHENTICATED: AuthError,
  AUTH_FAILED: AuthError,
  AUTH_TIMEOUT: AuthError,
  UNSUPPORTED_VERSION: UnsupportedVersionError,
  BAD_FRAME: ProtocolError,
  UNKNOWN_TYPE: ProtocolError,
  INVALID_FIELD: ProtocolError,
  FRAME_TOO_LARGE: ProtocolError,
  FRAME_TOO_DEEP: ProtocolError,
  UNENCODABLE: ProtocolError,
  FORBIDDEN: ForbiddenError,
  ROOM_NOT_FOUND: RoomError,
  NOT_JOINED: RoomError,
  ALREADY_JOINED: RoomError,
  USER_IN_ROOM: RoomError,
  ROOM_EXISTS: RoomError,
  UNKNOWN_OP: UnknownOpError,
  RATE_LIMITED: RateLimitedError,
  SLOW_CONSUMER: ConnectionEndedError,
  SESSION_REPLACED: ConnectionEndedError,
  KICKED: ConnectionEndedError,
  IDLE_TIMEOUT: ConnectionEndedError,
  HEARTBEAT_TIMEOUT: ConnectionEndedError,
  SHUTDOWN: ConnectionEndedError,
  CLOSED: ConnectionEndedError,
};

/** The typed error for a wire code; unknown codes become an {@link OperationError}. */
export function errorFromWire(detail: WireErrorDetail): ServerError {
  const ErrorClass = classByCode[detail.code] ?? OperationError;
  return new ErrorClass(detail);
}

/** Codes after which reconnecting cannot help: the client closes for good. */
const fatalCodes: ReadonlySet<string> = new Set<WireErrorCode>([
  'AUTH_FAILED',
  'AUTH_TIMEOUT',
  'NOT_AUTHENTICATED',
  'UNSUPPORTED_VERSION',
  'SESSION_REPLACED',
  'KICKED',
]);

/** Whether the client must stop reconnecting after the server sent `code`. */
export function isFatalCode(code: string): boolean {
  return fatalCodes.has(code);
}

/**
 * Whether the server refused the client's `hello` itself as malformed (a `user` or `meta` outside
 * the protocol's limits): the next attempt would send the same `hello`, so the client stops.
 */
export function isRefusedHello(error: ServerError): boolean {
  return error instanceof ProtocolError && error.frame === 'hello';
}
