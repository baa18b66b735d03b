/**
 * Protocol v1 codec: parses and validates client frames, serialises server frames. Every way a
 * frame can be wrong maps to one typed error (`BAD_FRAME`, `UNKNOWN_TYPE`, `INVALID_FIELD`,
 * `FRAME_TOO_LARGE`, `FRAME_TOO_DEEP`), so the server can answer it and keep the connection.
 */
import { MAX_NAME_LENGTH, isName } from '@msghub/protocol/token-grant';
import { BadFrameError, FrameTooDeepError, FrameTooLargeError, InvalidFieldError, UnknownTypeError } from './errors.js';
import {
  MAX_ACK_IDS,
  MAX_ANSWER_CODE_LENGTH,
  MAX_ANSWER_MESSAGE_LENGTH,
  MAX_DIRECT_TTL_MS,
  MAX_FRAME_DEPTH,
  type ClientFrame,
  type Ref,
  type ServerFrame,
} from './protocol.js';

type Fields = Record<string, unknown>;
type Check = (frame: Fields) => void;

function fail(frame: Fields, field: string, expected: string): never {
  throw new InvalidFieldError(`Expected \`${field}\` of a ${String(frame['type'])} frame to be ${expected}`);
}

// Room names, user ids and operation names: 1 to MAX_NAME_LENGTH characters.
export { MAX_NAME_LENGTH, isName };

function requireString(frame: Fields, field: string): void {
  if (!isName(frame[field])) fail(frame, field, `a string of 1 to ${MAX_NAME_LENGTH} characters`);
}

function optionalString(frame: Fields, field: string): void {
  if (frame[field] !== undefined && typeof frame[field] !== 'string') fail(frame, field, 'a string');
}

function requireRef(frame: Fields): void {
  if (!isRef(frame['ref'])) fail(frame, 'ref', 'a string or a safe integer');
}

/** An error code a client may answer a server request with: `UNKNOWN_OP`, `INTERNAL`, `MY_APP_CODE`. */
const ANSWER_CODE = /^[A-Z][A-Z0-9_]*$/;

function optionalRef(frame: Fields): void {
  if (frame['ref'] !== undefined && !isRef(frame['ref'])) fail(frame, 'ref', 'a string or a safe integer');
}

function optionalNumber(frame: Fields, field: string): void {
  const value = frame[field];
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) fail(frame, field, 'a number');
}

function requireData(frame: Fields): void {
  if (!('data' in frame) || frame['data'] === undefined) fail(frame, 'data', 'present');
}

/** Direct message ids are at most this long (the server's own are 22 characters). */
export const MAX_DIRECT_ID_LENGTH = 64;

function isDirectId(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_DIRECT_ID_LENGTH;
}

/** Whether `value` is a valid `ref`: a string of at most 128 characters or a safe integer. */
export function isRef(value: unknown): value is Ref {
  return (typeof value === 'string' && value.length <= 128) || (typeof value === 'number' && Number.isSafeInteger(value));
}

const checks: Record<ClientFrame['type'], Check> = {
  hello(frame) {
    if (typeof frame['v'] !== 'number' || !Number.isSafeInteger(frame['v'])) fail(frame, 'v', 'an integer');
    optionalString(frame, 'token');
    if (frame['user'] !== undefined) requireString(frame, 'user');
    const meta = frame['meta'];
    if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) {
      fail(frame, 'meta', 'an object');
    }
  },
  join(frame) {
    optionalRef(frame);
    requireString(frame, 'room');
    const since = frame['since'];
    if (since !== undefined && (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)) {
      fail(frame, 'since', 'an integer >= 0');
    }
    const epoch = frame['epoch'];
    if (epoch !== undefined && (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > 64)) {
      fail(frame, 'epoch', 'a string of 1 to 64 characters');
    }
  },
  leave(frame) {
    optionalRef(frame);
    requireString(frame, 'room');
  },
  publish(frame) {
    optionalRef(frame);
    requireString(frame, 'room');
    requireData(frame);
  },
  direct(frame) {
    optionalRef(frame);
    requireString(frame, 'to');
    requireData(frame);
    if (frame['room'] !== undefined) requireString(frame, 'room');
    const ttlMs = frame['ttlMs'];
    if (ttlMs === undefined) return;
    if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_DIRECT_TTL_MS) {
      fail(frame, 'ttlMs', `an integer from 1 to ${MAX_DIRECT_TTL_MS}`);
    }
    // A whisper is a room event: it lives as long as the room's history, not for a TTL.
    if (frame['room'] !== undefined) fail(frame, 'ttlMs', 'absent when `room` is given');
  },
  ack(frame) {
    optionalRef(frame);
    const ids = frame['direct'];
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_ACK_IDS || !ids.every(isDirectId)) {
      fail(frame, 'direct', `an array of 1 to ${MAX_ACK_IDS} ids, each a string of 1 to ${MAX_DIRECT_ID_LENGTH} characters`);
    }
  },
  signal(frame) {
    optionalRef(frame);
    requireString(frame, 'room');
    requireData(frame);
  },
  request(frame) {
    requireRef(frame);
    requireString(frame, 'op');
    if (frame['stream'] !== undefined && typeof frame['stream'] !== 'boolean') fail(frame, 'stream', 'a boolean');
  },
  cancel(frame) {
    requireRef(frame);
  },
  notify(frame) {
    requireString(frame, 'op');
  },
  response(frame) {
    requireRef(frame);
    requireData(frame);
  },
  error(frame) {
    requireRef(frame);
    const code = frame['code'];
    if (typeof code !== 'string' || code.length > MAX_ANSWER_CODE_LENGTH || !ANSWER_CODE.test(code)) {
      fail(frame, 'code', `a string of 1 to ${MAX_ANSWER_CODE_LENGTH} characters A-Z, 0-9 and _, starting with a letter`);
    }
    const message = frame['message'];
    if (message !== undefined && (typeof message !== 'string' || message.length > MAX_ANSWER_MESSAGE_LENGTH)) {
      fail(frame, 'message', `a string of at most ${MAX_ANSWER_MESSAGE_LENGTH} characters`);
    }
  },
  ping(frame) {
    optionalNumber(frame, 'ts');
  },
  pong(frame) {
    optionalNumber(frame, 'ts');
  },
  bye(frame) {
    optionalString(frame, 'reason');
  },
};

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Whether `text` holds more than `max` `[` and `{` characters in all, strings included. */
function hasMoreOpenersThan(text: string, max: number): boolean {
  let count = 0;
  for (let at = text.indexOf('['); at !== -1; at = text.indexOf('[', at + 1)) if (++count > max) return true;
  for (let at = text.indexOf('{'); at !== -1; at = text.indexOf('{', at + 1)) if (++count > max) return true;
  return false;
}

/**
 * Whether the JSON `text` (already known to parse) nests arrays and objects more than `max` levels
 * deep, the outermost value being level 1. One pass, no recursion; string contents are skipped, so
 * brackets inside strings do not count.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  // Nesting deeper than `max` takes more than `max` openers and as many closers, so short texts and
  // texts with few openers (counted natively, strings included) are done without the scan.
  if (text.length < 2 * (max + 1) || !hasMoreOpenersThan(text, max)) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      // The closing quote is the next one preceded by an even number of backslashes.
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i === -1) return false;
        let backslashes = 0;
        while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

/**
 * Parses one client frame and checks every field the protocol defines. Unknown extra fields are
 * kept (forward compatibility).
 *
 * A frame nesting arrays and objects deeper than {@link MAX_FRAME_DEPTH} levels (the frame object
 * is level 1) is refused: `JSON.parse` takes nesting that `JSON.stringify` (which recurses) cannot
 * write back, and a payload the server cannot write out would take an event id no member receives.
 *
 * @param text the frame's UTF-8 JSON text
 * @param maxBytes the largest frame accepted, in bytes
 * @throws {FrameTooLargeError | BadFrameError | FrameTooDeepError | UnknownTypeError | InvalidFieldError}
 */
export function decodeFrame(text: string, maxBytes: number): ClientFrame {
  // A UTF-8 string is at most 3 bytes per UTF-16 unit; count exactly only near the limit.
  if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) {
    throw new FrameTooLargeError(`Frame of ${Buffer.byteLength(text)} bytes exceeds ${maxBytes}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BadFrameError('Frame is not valid JSON', { cause: error });
  }
  if (nestsDeeperThan(text, MAX_FRAME_DEPTH)) {
    throw new FrameTooDeepError(`Frame nests arrays and objects deeper than ${MAX_FRAME_DEPTH} levels`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadFrameError('Frame is not a JSON object');
  }
  const frame = parsed as Fields;
  const type = frame['type'];
  if (typeof type !== 'string') throw new InvalidFieldError('Expected `type` to be a string');
  const check = Object.hasOwn(checks, type) ? checks[type as ClientFrame['type']] : undefined;
  if (check === undefined) throw new UnknownTypeError(`Unknown frame type ${JSON.stringify(type.slice(0, 64))}`);
  check(frame);
  return frame as unknown as ClientFrame;
}

/** The `type` and `ref` of a frame that failed validation, as far as they can be read. */
export function peekFrame(text: string): { type?: string; ref?: Ref } {
  try {
    const parsed = JSON.parse(text) as Fields | null;
    if (typeof parsed !== 'object' || parsed === null) return {};
    const type = typeof parsed['type'] === 'string' ? parsed['type'].slice(0, 64) : undefined;
    const ref = isRef(parsed['ref']) ? parsed['ref'] : undefined;
    return { ...(type === undefined ? {} : { type }), ...(ref === undefined ? {} : { ref }) };
  } catch {
    return {};
  }
}

/** Serialises a server frame. */
export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
