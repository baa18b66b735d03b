/**
 * Protocol v1 (docs/protocol.md): the room events and frames on the wire, the wire error codes and
 * the protocol's limits. No runtime dependencies, so that the server, the browser client and the
 * Node client share one definition.
 */

/** The kinds of event a room emits, in go-chat's vocabulary. */
export type HubEventType = 'join' | 'add' | 'remove' | 'leave' | 'message' | 'close';

interface EventBase {
  /** Position in the room's sequence: 1, 2, 3, ... with no gap. */
  readonly id: number;
  /** The room that emitted the event. */
  readonly chatroomId: string;
  /** Milliseconds since the Unix epoch, taken when the room processed the command. */
  readonly unixTime: number;
}

/** A session entered the room: `join` for the user's first session, `add` for later ones. */
export interface PresenceEvent extends EventBase {
  readonly type: 'join' | 'add' | 'remove' | 'leave';
  readonly userId: string;
  readonly sessionId: string;
}

/**
 * A message. `userId` is the sender (absent for a system message); `to` names the recipient of a
 * whisper (absent for a broadcast). A whisper reaches only the recipient's and the sender's sessions.
 */
export interface MessageEvent<T = string> extends EventBase {
  readonly type: 'message';
  readonly userId?: string;
  readonly to?: string;
  readonly message: T;
}

/** The room closed; it is always the last event. */
export interface CloseEvent extends EventBase {
  readonly type: 'close';
}

/** One event of a room. JSON field names match go-chat's messagehub so logs line up. */
export type HubEvent<T = string> = PresenceEvent | MessageEvent<T> | CloseEvent;


/** The protocol version this package speaks. */
export const PROTOCOL_VERSION = 1;
/** Versions a server accepts in `hello.v`. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];
/** Hard cap on one TCP frame's length prefix. */
export const MAX_TCP_FRAME_BYTES = 4 * 1024 * 1024;
/**
 * How deeply a client frame may nest arrays and objects, the frame object itself being level 1:
 * the `data` of a `publish` (level 2) may hold 62 more levels of arrays and objects inside it.
 */
export const MAX_FRAME_DEPTH = 64;
/** Most direct message ids one `ack` frame may carry. */
export const MAX_ACK_IDS = 1024;
/** Longest lifetime a `direct` may ask for in `ttlMs`: 30 days. */
export const MAX_DIRECT_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Correlates a client frame with the server's answer. */
export type Ref = string | number;

/** Every stable code that can appear in an `error`, `kicked` or `bye` frame. See docs/errors.md. */
export type WireErrorCode =
  | 'BAD_FRAME'
  | 'UNKNOWN_TYPE'
  | 'INVALID_FIELD'
  | 'FRAME_TOO_LARGE'
  | 'FRAME_TOO_DEEP'
  | 'NOT_AUTHENTICATED'
  | 'AUTH_FAILED'
  | 'AUTH_TIMEOUT'
  | 'UNSUPPORTED_VERSION'
  | 'FORBIDDEN'
  | 'ROOM_NOT_FOUND'
  | 'NOT_JOINED'
  | 'ALREADY_JOINED'
  | 'USER_IN_ROOM'
  | 'ROOM_EXISTS'
  | 'UNKNOWN_OP'
  | 'INTERNAL'
  | 'RATE_LIMITED'
  | 'SLOW_CONSUMER'
  | 'SESSION_REPLACED'
  | 'KICKED'
  | 'IDLE_TIMEOUT'
  | 'HEARTBEAT_TIMEOUT'
  | 'SHUTDOWN'
  | 'CLOSED'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'OFFLINE_QUEUE_FULL'
  | 'OFFLINE'
  | 'UNENCODABLE'
  | 'STORE_FAILED'
  | 'TOO_MANY_STREAMS'
  | 'STREAM_REQUIRED'
  | 'REQUEST_TIMEOUT'
  | 'DISCONNECTED';

export const WIRE_ERROR_CODES: readonly WireErrorCode[] = [
  'BAD_FRAME',
  'UNKNOWN_TYPE',
  'INVALID_FIELD',
  'FRAME_TOO_LARGE',
  'FRAME_TOO_DEEP',
  'NOT_AUTHENTICATED',
  'AUTH_FAILED',
  'AUTH_TIMEOUT',
  'UNSUPPORTED_VERSION',
  'FORBIDDEN',
  'ROOM_NOT_FOUND',
  'NOT_JOINED',
  'ALREADY_JOINED',
  'USER_IN_ROOM',
  'ROOM_EXISTS',
  'UNKNOWN_OP',
  'INTERNAL',
  'RATE_LIMITED',
  'SLOW_CONSUMER',
  'SESSION_REPLACED',
  'KICKED',
  'IDLE_TIMEOUT',
  'HEARTBEAT_TIMEOUT',
  'SHUTDOWN',
  'CLOSED',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'OFFLINE_QUEUE_FULL',
  'OFFLINE',
  'UNENCODABLE',
  'STORE_FAILED',
  'TOO_MANY_STREAMS',
  'STREAM_REQUIRED',
  'REQUEST_TIMEOUT',
  'DISCONNECTED',
];

// ---- client → server -------------------------------------------------------------------------

export interface HelloFrame {
  type: 'hello';
  v: number;
  token?: string;
  user?: string;
  meta?: Record<string, unknown>;
}
export interface JoinFrame {
  type: 'join';
  ref?: Ref;
  room: string;
  since?: number;
  /** The epoch `since` was counted in (from the `ok` of an earlier join or a `gap`). */
  epoch?: string;
}
export interface LeaveFrame {
  type: 'leave';
  ref?: Ref;
  room: string;
}
export interface PublishFrame {
  type: 'publish';
  ref?: Ref;
  room: string;
  data: unknown;
}
export interface DirectSendFrame {
  type: 'direct';
  ref?: Ref;
  to: string;
  data: unknown;
  room?: string;
  /**
   * User-to-user only: deliver within this many milliseconds (1 to {@link MAX_DIRECT_TTL_MS}) or
   * never. The server keeps a message at most as long as its queue's own TTL.
   */
  ttlMs?: number;
}
/** Acknowledges user-to-user `direct` messages by id: the server stops sending them again. */
export interface AckFrame {
  type: 'ack';
  ref?: Ref;
  /** Ids of received `direct` frames, 1 to {@link MAX_ACK_IDS} of them. */
  direct: string[];
}
/**
 * Calls an operation. From a client: a server handler's; with `stream: true` the answer may be
 * several `response` frames with `more: true`, then `end`. From the server: a handler the client
 * registered by op, answered by the client with one `response` or `error` carrying the same `ref`
 * (the server's refs and the client's are separate: the direction tells them apart).
 */
export interface RequestFrame {
  type: 'request';
  ref: Ref;
  op: string;
  data?: unknown;
  /** Client requests only: the client takes a stream of results (docs/protocol.md, Streams). */
  stream?: boolean;
}
/** Client → server: stop the stream the client's `request` `ref` started. No answer. */
export interface CancelFrame {
  type: 'cancel';
  ref: Ref;
}
/** A named fire-and-forget notification, in either direction; no answer. */
export interface NotifyFrame {
  type: 'notify';
  op: string;
  data?: unknown;
}
/** Client → server: the failure of a server request the client could not answer with a result. */
export interface ErrorAnswerFrame {
  type: 'error';
  ref: Ref;
  /** An upper-case code of 1 to 64 characters (`UNKNOWN_OP`, `INTERNAL`, or the application's own). */
  code: string;
  message?: string;
}
/** Longest `code` of a client's `error` answer. */
export const MAX_ANSWER_CODE_LENGTH = 64;
/** Longest `message` of a client's `error` answer. */
export const MAX_ANSWER_MESSAGE_LENGTH = 1024;
/**
 * An ephemeral signal to the other members of a room (a typing indicator, a cursor): fanned out to
 * the room's current connections as a {@link SignalFrame}, never given an event id, never stored.
 */
export interface SignalSendFrame {
  type: 'signal';
  ref?: Ref;
  room: string;
  data: unknown;
}
export interface PingFrame {
  type: 'ping';
  ts?: number;
}
export interface PongFrame {
  type: 'pong';
  ts?: number;
}
export interface ClientByeFrame {
  type: 'bye';
  reason?: string;
}

export type ClientFrame =
  | HelloFrame
  | JoinFrame
  | LeaveFrame
  | PublishFrame
  | DirectSendFrame
  | AckFrame
  | RequestFrame
  | CancelFrame
  | NotifyFrame
  | ResponseFrame
  | ErrorAnswerFrame
  | SignalSendFrame
  | PingFrame
  | PongFrame
  | ClientByeFrame;

// ---- server → client -------------------------------------------------------------------------

export interface WelcomeFrame {
  type: 'welcome';
  v: number;
  userId: string;
  /** Random, 22 base64url characters, unique across servers and restarts; the session id in rooms. */
  connectionId: string;
  heartbeatMs: number;
  maxFrameBytes: number;
}
export interface OkFrame {
  type: 'ok';
  ref: Ref;
  room?: string;
  lastEventId?: number;
  /** For a join: the epoch of the room's sequence. */
  epoch?: string;
  /** For a publish or an in-room direct: the id of the committed event. */
  id?: number;
}
/** The result of a `request` (from the server, or from a client answering a server request). */
export interface ResponseFrame {
  type: 'response';
  ref: Ref;
  data: unknown;
  /** Server → client, for a `request` with `stream: true`: one item; more follow, then `end`. */
  more?: boolean;
}
/** The stream of a `request` with `stream: true` ended normally (a failure ends it with `error`). */
export interface EndFrame {
  type: 'end';
  ref: Ref;
}
export interface ErrorFrame {
  type: 'error';
  code: WireErrorCode;
  message: string;
  ref?: Ref;
  /** The `type` of the frame that caused the error, when known. */
  frame?: string;
  supported?: readonly number[];
  /** With `RATE_LIMITED`: in how many ms the rate window ends, after which the frame may be sent again. */
  retryAfterMs?: number;
}
export interface EventFrame<T = unknown> {
  type: 'event';
  room: string;
  event: HubEvent<T>;
}
export interface GapFrame {
  type: 'gap';
  room: string;
  since: number;
  resumeAt: number;
  reason: 'trimmed' | 'reset' | 'dropped';
  /** For `trimmed` and `reset`: the epoch the stream goes on in. */
  epoch?: string;
}
export interface DirectFrame {
  type: 'direct';
  /**
   * Random (16 bytes, 22 base64url characters), never handed out again, across restarts too; the
   * same message sent again (it was not acknowledged) keeps it. Servers before acknowledgements
   * sent a number that started again at 1 after each restart.
   */
  id: string;
  from: string;
  data: unknown;
  ts: number;
}
/** A member's ephemeral signal in a room this connection joined (see {@link SignalSendFrame}). */
export interface SignalFrame {
  type: 'signal';
  room: string;
  /** The user id of the sender. */
  from: string;
  data: unknown;
}
export interface KickedFrame {
  type: 'kicked';
  code: 'SESSION_REPLACED' | 'KICKED';
  reason?: string;
}
export interface ServerByeFrame {
  type: 'bye';
  code: WireErrorCode;
  reason?: string;
}

export type ServerFrame =
  | WelcomeFrame
  | OkFrame
  | ResponseFrame
  | EndFrame
  | ErrorFrame
  | EventFrame
  | GapFrame
  | DirectFrame
  | SignalFrame
  | RequestFrame
  | NotifyFrame
  | PingFrame
  | PongFrame
  | KickedFrame
  | ServerByeFrame;
