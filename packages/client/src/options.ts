import { DEFAULT_BACKOFF, type BackoffOptions, type ResolvedBackoff } from './backoff.js';
import { systemTimers, type Timers } from './clock.js';
import type { Connector } from './connector.js';
import { InvalidOptionError, type DiscardReason } from './errors.js';
import type { ClientFrame } from './protocol.js';
import type { SendBufferOptions } from './send-buffer.js';

/** A frame the send buffer dropped, and why. */
export interface Discarded {
  readonly frame: ClientFrame;
  readonly reason: DiscardReason;
}

/** Where the `hello` token comes from: a fixed string, or a function called before every connection (for single-use tokens). */
export type TokenSource = string | (() => string | Promise<string>);

/** Options of {@link MsghubClient}. Only `connector` is required. */
export interface ClientOptions {
  /** Opens connections: {@link webSocketConnector}, or `tcpConnector` / `wsConnector` from `@msghub/client/node`. */
  connector: Connector;
  /** The credential sent in `hello.token`. A function is called before every connection attempt. @default none */
  token?: TokenSource;
  /**
   * Sent as `hello.user` (honoured only by authenticators that allow it): 1 to 256 characters, as
   * the protocol allows. @default none
   */
  user?: string;
  /** Sent as `hello.meta`. @default none */
  meta?: Record<string, unknown>;
  /** Reconnect schedule, or `false` to stay disconnected after the first loss. @default see {@link BackoffOptions} */
  reconnect?: BackoffOptions | false;
  /** How long one attempt may take from opening the carrier to `welcome`. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Silence (no frame at all from the server) after which the connection counts as dead and is
   * replaced. 0 disables the check. @default twice the server's `welcome.heartbeatMs`
   */
  heartbeatTimeoutMs?: number;
  /** Default timeout of `request`, and of each `join`. @default 10000 */
  requestTimeoutMs?: number;
  /** The buffer that keeps frames while disconnected. @default `{ maxFrames: 100, timeoutMs: 10000 }` */
  sendBuffer?: SendBufferOptions;
  /** Called for every frame the send buffer drops (also emitted on `discarded$`). @default none */
  onDiscard?: (discarded: Discarded) => void;
  /**
   * In browsers, while `navigator.onLine` is false: spend no reconnect attempt, wait for the
   * `online` event, then connect at once with the backoff reset. Where `navigator.onLine` does not
   * exist (Node) it has no effect. @default true
   */
  waitForOnline?: boolean;
  /** Timer and clock seam, for tests. @default the platform's timers */
  timers?: Timers;
}

/** {@link ClientOptions} with every default filled in. */
export interface ResolvedOptions {
  readonly connector: Connector;
  readonly token: TokenSource | undefined;
  readonly user: string | undefined;
  readonly meta: Record<string, unknown> | undefined;
  readonly reconnect: ResolvedBackoff | false;
  readonly connectTimeoutMs: number;
  readonly heartbeatTimeoutMs: number | undefined;
  readonly requestTimeoutMs: number;
  readonly sendBuffer: Required<SendBufferOptions>;
  readonly onDiscard: ((discarded: Discarded) => void) | undefined;
  readonly waitForOnline: boolean;
  readonly timers: Timers;
}

/** The longest user id the protocol carries (docs/protocol.md, Field limits). */
const MAX_USER_LENGTH = 256;

/** `0 (number)` style description of what was given. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${String(value)} (${typeof value})`;
}

/** Throws an {@link InvalidOptionError} unless `value` is undefined or a number ≥ `min` (integer if asked). */
export function checkNumber(name: string, value: unknown, min: number, integer = false): void {
  if (value === undefined) return;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    value >= min &&
    (!integer || Number.isInteger(value) || value === Infinity);
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    throw new InvalidOptionError(`Expected ${name} to be ${kind} >= ${min}, got ${describe(value)}`);
  }
}

function checkType(name: string, value: unknown, type: string): void {
  if (value !== undefined && typeof value !== type) {
    throw new InvalidOptionError(`Expected ${name} to be a ${type}, got ${describe(value)}`);
  }
}

function resolveBackoff(value: BackoffOptions | false | undefined): ResolvedBackoff | false {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new InvalidOptionError(`Expected options.reconnect to be an object or false, got ${describe(value)}`);
  }
  const backoff = { ...DEFAULT_BACKOFF, ...stripUndefined(value ?? {}) };
  checkNumber('options.reconnect.initialDelayMs', backoff.initialDelayMs, 0);
  checkNumber('options.reconnect.maxDelayMs', backoff.maxDelayMs, 0);
  checkNumber('options.reconnect.factor', backoff.factor, 1);
  checkNumber('options.reconnect.maxAttempts', backoff.maxAttempts, 1, true);
  checkNumber('options.reconnect.jitter', backoff.jitter, 0);
  if (backoff.jitter > 1) {
    throw new InvalidOptionError(`Expected options.reconnect.jitter to be in [0, 1], got ${describe(backoff.jitter)}`);
  }
  return backoff;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Validates `options` and fills in the defaults. @throws InvalidOptionError */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`Expected options to be an object, got ${describe(options)}`);
  }
  if (typeof options.connector !== 'function') {
    throw new InvalidOptionError(`Expected options.connector to be a function, got ${describe(options.connector)}`);
  }
  if (options.token !== undefined && typeof options.token !== 'string' && typeof options.token !== 'function') {
    throw new InvalidOptionError(`Expected options.token to be a string or a function, got ${describe(options.token)}`);
  }
  checkType('options.user', options.user, 'string');
  if (options.user !== undefined && (options.user.length === 0 || options.user.length > MAX_USER_LENGTH)) {
    throw new InvalidOptionError(`Expected options.user to be 1 to ${MAX_USER_LENGTH} characters, got ${options.user.length}`);
  }
  checkType('options.meta', options.meta, 'object');
  checkType('options.onDiscard', options.onDiscard, 'function');
  checkType('options.waitForOnline', options.waitForOnline, 'boolean');
  checkNumber('options.connectTimeoutMs', options.connectTimeoutMs, 1);
  checkNumber('options.heartbeatTimeoutMs', options.heartbeatTimeoutMs, 0);
  checkNumber('options.requestTimeoutMs', options.requestTimeoutMs, 1);
  checkNumber('options.sendBuffer.maxFrames', options.sendBuffer?.maxFrames, 0, true);
  checkNumber('options.sendBuffer.timeoutMs', options.sendBuffer?.timeoutMs, 0);
  return {
    connector: options.connector,
    token: options.token,
    user: options.user,
    meta: options.meta,
    reconnect: resolveBackoff(options.reconnect),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    sendBuffer: {
      maxFrames: options.sendBuffer?.maxFrames ?? 100,
      timeoutMs: options.sendBuffer?.timeoutMs ?? 10_000,
    },
    onDiscard: options.onDiscard,
    waitForOnline: options.waitForOnline ?? true,
    timers: options.timers ?? systemTimers,
  };
}
