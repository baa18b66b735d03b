/**
 * The WebSocket protocol (RFC 6455) as the server side speaks it: the opening handshake's checks
 * and answer, the frames the server writes (unmasked, never fragmented), and the rules a client's
 * frame header must follow. No state: `ws-socket.ts` reads and writes with these.
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';

/** Opcodes (RFC 6455 §5.2). */
export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes the server sends (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_INVALID_DATA = 1007;
export const CLOSE_TOO_BIG = 1009;

/** Largest payload of a control frame (§5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** 16 random bytes in base64 (§4.2.1, item 5). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** An HTTP token (RFC 7230 §3.2.6), the form of a subprotocol name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Why an upgrade request is not a WebSocket opening handshake this server accepts. */
export interface UpgradeRefusal {
  readonly status: number;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Checks an upgrade request (§4.2.1) and returns the subprotocol to answer with (the first one the
 * client offered, or `''` for none), or why it is refused.
 */
export function checkUpgrade(request: IncomingMessage): { protocol: string } | UpgradeRefusal {
  if (request.method !== 'GET') return { status: 405, message: 'A WebSocket handshake is a GET request', headers: { allow: 'GET' } };
  const upgrade = request.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return { status: 400, message: 'Missing or invalid Upgrade header' };
  const key = request.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return { status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' };
  const version = request.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    return { status: 400, message: 'Missing or invalid Sec-WebSocket-Version header', headers: { 'sec-websocket-version': '13, 8' } };
  }
  const offered = request.headers['sec-websocket-protocol'];
  if (offered === undefined) return { protocol: '' };
  const protocols = offered.split(',').map((name) => name.trim());
  if (!protocols.every((name) => TOKEN.test(name)) || new Set(protocols).size !== protocols.length) {
    return { status: 400, message: 'Invalid Sec-WebSocket-Protocol header' };
  }
  return { protocol: protocols[0] as string };
}

/** The `101 Switching Protocols` answer to a checked handshake. */
export function acceptResponse(key: string, protocol: string): string {
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  const chosen = protocol === '' ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${chosen}\r\n`;
}

/** The plain-text HTTP answer to a refused handshake; the connection closes after it. */
export function refusalResponse(refusal: UpgradeRefusal): string {
  const body = `${refusal.message}\n`;
  let head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(refusal.headers ?? {})) head += `${name}: ${value}\r\n`;
  return `${head}\r\n${body}`;
}

/** A close code a peer may send (§7.4): the defined ones that may appear on the wire, and 3000-4999. */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Length of the header of an unmasked frame with a payload of `length` bytes. */
function headerLength(length: number): number {
  return length > 65535 ? 10 : length > 125 ? 4 : 2;
}

/** Writes an unmasked, final frame's header for `opcode` and `length` at the start of `frame`. */
function writeHeader(frame: Buffer, opcode: number, length: number): number {
  frame[0] = 0x80 | opcode;
  if (length <= 125) {
    frame[1] = length;
    return 2;
  }
  if (length <= 65535) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
    return 4;
  }
  frame[1] = 127;
  frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  frame.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/**
 * The WebSocket frame of each shared frame text: a room event is framed once for every connection
 * it goes to. Weak, so a frame lives as long as the text it was made from.
 */
const framed = new WeakMap<Buffer, Buffer>();

/** `data` (UTF-8 text) as one unmasked, unfragmented text frame: header and payload in one buffer. */
export function textFrame(data: Buffer): Buffer {
  let frame = framed.get(data);
  if (frame !== undefined) return frame;
  frame = Buffer.allocUnsafe(headerLength(data.length) + data.length);
  data.copy(frame, writeHeader(frame, OP_TEXT, data.length));
  framed.set(data, frame);
  return frame;
}

/** `text` as one unmasked text frame of its own. */
export function stringFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(headerLength(length) + length);
  frame.write(text, writeHeader(frame, OP_TEXT, length), 'utf8');
  return frame;
}

/** A control frame (ping, pong) with `payload` (at most 125 bytes). */
export function controlFrame(opcode: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(2 + payload.length);
  payload.copy(frame, writeHeader(frame, opcode, payload.length));
  return frame;
}

/** A close frame with `code` and a short reason (truncated to fit a control frame). */
export function closeFrame(code: number, reason = ''): Buffer {
  const encoded = Buffer.from(reason, 'utf8');
  // A reason past the control frame's 123 bytes is cut before the character the cut would split:
  // the peer must get valid UTF-8 (§5.5.1), or it fails the connection with 1007.
  let end = Math.min(encoded.length, MAX_CONTROL_PAYLOAD - 2);
  while (end < encoded.length && end > 0 && ((encoded[end] as number) & 0xc0) === 0x80) end--;
  const text = encoded.subarray(0, end);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return controlFrame(OP_CLOSE, payload);
}

/** XORs `length` bytes of `data` from `start` with the 4-byte `mask` at `maskAt`, in place. */
export function unmask(data: Buffer, start: number, length: number, maskAt: number): void {
  const m0 = data[maskAt] as number;
  const m1 = data[maskAt + 1] as number;
  const m2 = data[maskAt + 2] as number;
  const m3 = data[maskAt + 3] as number;
  const end = start + length;
  let i = start;
  for (; i + 3 < end; i += 4) {
    data[i] = (data[i] as number) ^ m0;
    data[i + 1] = (data[i + 1] as number) ^ m1;
    data[i + 2] = (data[i + 2] as number) ^ m2;
    data[i + 3] = (data[i + 3] as number) ^ m3;
  }
  if (i < end) data[i] = (data[i] as number) ^ m0;
  if (i + 1 < end) data[i + 1] = (data[i + 1] as number) ^ m1;
  if (i + 2 < end) data[i + 2] = (data[i + 2] as number) ^ m2;
}
