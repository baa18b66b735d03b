/**
 * A WebSocket connection read and written by msghub itself, straight on the TCP socket: no stream
 * between the socket and the frame parser, no per-socket objects besides this one, and a room
 * event's frame built once and written to every connection as is. Used for every connection that
 * negotiated no extension (with permessage-deflate the `ws` library carries it, `ws-deflate-socket.ts`).
 *
 * Reading follows RFC 6455 §5: client frames must be masked, reserved bits clear, control frames
 * short and final; a violation closes the connection with 1002, text that is not UTF-8 with 1007,
 * a message past the hard cap with 1009. A message over `maxFrameBytes` but under the cap is read
 * and refused with `FRAME_TOO_LARGE`, and the connection goes on.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Handshake, SocketHandler, TransportSocket } from './adapter.js';
import { FrameTooLargeError } from './errors.js';
import {
  closeFrame,
  CLOSE_INVALID_DATA,
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_BIG,
  controlFrame,
  isValidCloseCode,
  MAX_CONTROL_PAYLOAD,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  stringFrame,
  textFrame,
  unmask,
} from './ws-frames.js';

/** Limits of the connections of one adapter, shared by all of them. */
export interface WsLimits {
  /** Largest message handed on; larger ones up to `maxPayload` get `FRAME_TOO_LARGE`. */
  readonly maxFrameBytes: number;
  /** Largest message read at all; past it the connection closes with 1009. */
  readonly maxPayload: number;
}

/** How long a closing connection waits for its peer to finish the close handshake. */
const CLOSE_TIMEOUT_MS = 2000;

const kConnection = Symbol('msghub.ws');
type TaggedSocket = Socket & { [kConnection]: WsSocket };

// Flags of a WsSocket, in one small integer.
/** `closed` was handed to the handler. */
const CLOSED = 1;
/** A `drain` listener is registered (for the handler, an owed pong, or both). */
const DRAIN_ARMED = 2;
/** The server stopped reading (backpressure). */
const PAUSED = 4;
/** Inside the parse loop. */
const READING = 8;
/** A close frame went out: nothing else is written. */
const CLOSE_SENT = 16;
/** Reading is over (the peer's close frame or FIN came, or the connection failed), and our side of TCP ended. */
const READ_DONE = 32;
/** The peer ended its side of the TCP connection: no more bytes come. */
const PEER_ENDED = 64;
/** The handler asked whether to wait (`needsDrain`) and was told yes: the next `drain` goes to it. */
const DRAIN_OWED = 128;
/**
 * Nothing more is written: a close frame went out, or our side of TCP ended (a write after that
 * fails the socket, which drops what it still buffers).
 */
const NO_WRITES = CLOSE_SENT | READ_DONE;

const EMPTY = Buffer.alloc(0);
/**
 * The pong owed by each connection whose socket waits for 'drain': only the latest ping is
 * answered then (RFC 6455 §5.5.3 allows it), so a peer that pings and never reads cannot make the
 * server buffer a pong per ping. Out of the connection, so an idle one keeps no field for it.
 */
const owedPongs = new WeakMap<WsSocket, Buffer>();
const NO_QUERY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Bytes kept in one buffer that doubles as it fills (see {@link append}): they hold at most twice
 * their size, never the TCP reads or the frames they came in, however small those are.
 */
interface Kept {
  /** The bytes are `data[0, bytes)`. */
  data: Buffer;
  bytes: number;
}

/** Bytes of a frame not complete yet: read on when `bytes` reaches `need`. */
interface Rest extends Kept {
  need: number;
}

/** The fragments of a message that came in several frames. */
interface Fragments extends Kept {
  readonly opcode: number;
}

export class WsSocket implements TransportSocket {
  readonly remoteAddress: string | undefined;
  readonly #socket: Socket;
  readonly #limits: WsLimits;
  /** The upgrade request's headers and URL; the handshake is made of them when asked for. */
  readonly #headers: IncomingMessage['headers'];
  readonly #url: string | undefined;
  handler: SocketHandler | undefined;
  #flags = 0;
  /** Only while a frame is incomplete or reading is paused with bytes left; usually none. */
  #rest: Rest | undefined;
  /** Only while a fragmented message is being read. */
  #fragments: Fragments | undefined;

  /**
   * @param socket the upgraded TCP socket, the `101` already written to it.
   * @param head bytes that came with the upgrade request, the start of the first frames.
   */
  constructor(socket: Socket, request: IncomingMessage, head: Buffer, limits: WsLimits) {
    this.#socket = socket;
    this.#limits = limits;
    this.remoteAddress = socket.remoteAddress;
    this.#headers = shareValues(request.headers);
    this.#url = request.url;
    if (head.length > 0) this.#rest = { data: head, bytes: head.length, need: 0 };
    (socket as TaggedSocket)[kConnection] = this;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.on('error', socketOnError);
    socket.on('end', socketOnEnd);
    socket.on('close', socketOnClose);
  }

  get transport(): string {
    return 'ws';
  }

  /** Made on each access from what the upgrade request said, so an idle connection keeps no copy. */
  get handshake(): Handshake {
    return { headers: this.#headers, query: readQuery(this.#url), url: this.#url };
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  get needsDrain(): boolean {
    if (!this.#socket.writableNeedDrain) return false;
    this.#flags |= DRAIN_OWED;
    this.#armDrain();
    return true;
  }

  /** Registers the one `drain` listener, unless it is already there. */
  #armDrain(): void {
    if ((this.#flags & DRAIN_ARMED) !== 0) return;
    this.#flags |= DRAIN_ARMED;
    this.#socket.once('drain', socketOnDrain);
  }


  start(handler: SocketHandler): void {
    this.handler = handler;
    this.#socket.on('data', socketOnData);
    this.#readRest();
  }

  /**
   * A Buffer is a frame's UTF-8 text shared by many connections: framed once (see
   * {@link textFrame}) and written as is. A batch goes out corked, in one system call.
   */
  write(frames: readonly (string | Buffer)[]): void {
    if ((this.#flags & NO_WRITES) !== 0) return;
    const socket = this.#socket;
    if (frames.length === 1) {
      socket.write(frameOf(frames[0] as string | Buffer));
      return;
    }
    socket.cork();
    for (let i = 0; i < frames.length; i++) socket.write(frameOf(frames[i] as string | Buffer));
    socket.uncork();
  }

  pause(): void {
    this.#flags |= PAUSED;
    this.#socket.pause();
  }

  resume(): void {
    this.#flags &= ~PAUSED;
    if ((this.#flags & (CLOSED | READ_DONE)) !== 0) return;
    this.#socket.resume();
    if ((this.#flags & READING) === 0) this.#readRest();
  }

  /** Starts the close handshake (1000); the TCP connection ends when the peer answers, or after 2 s. */
  end(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    this.#sendClose(closeFrame(CLOSE_NORMAL));
    if ((this.#flags & READ_DONE) !== 0) this.#socket.end();
    // Paused or not, read on to the peer's close frame: a socket closed with bytes unread is reset.
    else this.resume();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** @internal bytes from the socket */
  onData(chunk: Buffer): void {
    if ((this.#flags & READ_DONE) !== 0) return;
    const rest = this.#rest;
    if (rest === undefined) {
      this.#read(chunk);
      return;
    }
    append(rest, chunk, rest.need);
    if (rest.bytes >= rest.need && (this.#flags & PAUSED) === 0) this.#readRest();
  }

  /** Reads on from the bytes kept, if there are enough of them. */
  #readRest(): void {
    const rest = this.#rest;
    if (rest === undefined || rest.bytes < rest.need || (this.#flags & (PAUSED | READ_DONE)) !== 0) return;
    this.#rest = undefined;
    this.#read(rest.data.subarray(0, rest.bytes));
  }

  /** Reads every whole frame in `data`; keeps what is left. */
  #read(data: Buffer): void {
    this.#flags |= READING;
    let at = 0;
    while (at < data.length && (this.#flags & (PAUSED | READ_DONE | CLOSED)) === 0) {
      const used = this.#frame(data, at);
      if (used <= 0) {
        // Not a whole frame yet: `-used` bytes are needed from `at`.
        if (used < 0) this.#rest = { data: data.subarray(at), bytes: data.length - at, need: -used };
        at = data.length;
        break;
      }
      at += used;
    }
    this.#flags &= ~READING;
    if (at < data.length && (this.#flags & (READ_DONE | CLOSED)) === 0) {
      // Paused with frames left: they are read on `resume`.
      this.#rest = { data: data.subarray(at), bytes: data.length - at, need: 0 };
    }
    if ((this.#flags & (PEER_ENDED | PAUSED | READ_DONE)) === PEER_ENDED) this.#readDone();
  }

  /**
   * Reads the frame at `at`. Returns the bytes it took, or minus the bytes a whole frame needs when
   * `data` ends before, or 0 when the connection failed.
   */
  #frame(data: Buffer, at: number): number {
    const available = data.length - at;
    if (available < 2) return -2;
    const b0 = data[at] as number;
    const b1 = data[at + 1] as number;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return this.#fail(CLOSE_PROTOCOL_ERROR, 'Reserved bits set');
    if ((b1 & 0x80) === 0) return this.#fail(CLOSE_PROTOCOL_ERROR, 'Client frames must be masked');
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (available < 4) return -4;
      length = data.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (available < 10) return -10;
      const high = data.readUInt32BE(at + 2);
      // Past 2^53 - 1 bytes a length is no number; far past any cap anyway.
      if (high > 0x1fffff) return this.#fail(CLOSE_TOO_BIG, 'Message too big');
      length = high * 2 ** 32 + data.readUInt32BE(at + 6);
      header = 10;
    }
    const final = (b0 & 0x80) !== 0;
    if ((opcode & 0x08) !== 0) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) return this.#fail(CLOSE_PROTOCOL_ERROR, `Unknown opcode ${opcode}`);
      if (!final) return this.#fail(CLOSE_PROTOCOL_ERROR, 'Fragmented control frame');
      if (length > MAX_CONTROL_PAYLOAD) return this.#fail(CLOSE_PROTOCOL_ERROR, 'Control frame too long');
    } else {
      if (opcode !== OP_TEXT && opcode !== OP_BINARY && opcode !== OP_CONTINUATION) return this.#fail(CLOSE_PROTOCOL_ERROR, `Unknown opcode ${opcode}`);
      const fragments = this.#fragments;
      if (opcode === OP_CONTINUATION ? fragments === undefined : fragments !== undefined) {
        return this.#fail(CLOSE_PROTOCOL_ERROR, opcode === OP_CONTINUATION ? 'Nothing to continue' : 'Expected a continuation frame');
      }
      if ((fragments === undefined ? 0 : fragments.bytes) + length > this.#limits.maxPayload) return this.#fail(CLOSE_TOO_BIG, 'Message too big');
    }
    const total = header + 4 + length;
    if (available < total) return -total;
    const start = at + header + 4;
    unmask(data, start, length, at + header);
    const payload = data.subarray(start, start + length);
    if ((opcode & 0x08) !== 0) this.#control(opcode, payload);
    else this.#data(opcode, final, payload);
    return total;
  }

  #data(opcode: number, final: boolean, payload: Buffer): void {
    let fragments = this.#fragments;
    let message = payload;
    let type = opcode;
    if (!final || fragments !== undefined) {
      if (fragments === undefined) this.#fragments = fragments = { opcode, data: EMPTY, bytes: 0 };
      append(fragments, payload, this.#limits.maxPayload);
      if (!final) return;
      this.#fragments = undefined;
      message = fragments.data.subarray(0, fragments.bytes);
      type = fragments.opcode;
    }
    if (type === OP_TEXT && !isUtf8(message)) {
      this.#fail(CLOSE_INVALID_DATA, 'Text is not UTF-8');
      return;
    }
    const handler = this.handler;
    if (message.length > this.#limits.maxFrameBytes) {
      handler?.invalid(new FrameTooLargeError(`Frame of ${message.length} bytes exceeds ${this.#limits.maxFrameBytes}`), false);
      return;
    }
    handler?.frame(message.toString('utf8'));
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) {
      if ((this.#flags & CLOSE_SENT) === 0) this.#pong(controlFrame(OP_PONG, payload));
      return;
    }
    if (opcode === OP_PONG) return;
    if (payload.length === 1) {
      this.#fail(CLOSE_PROTOCOL_ERROR, 'Close frame with a 1-byte payload');
      return;
    }
    const code = payload.length === 0 ? 0 : payload.readUInt16BE(0);
    if (payload.length > 0 && !isValidCloseCode(code)) {
      this.#fail(CLOSE_PROTOCOL_ERROR, `Invalid close code ${code}`);
      return;
    }
    if (payload.length > 2 && !isUtf8(payload.subarray(2))) {
      this.#fail(CLOSE_INVALID_DATA, 'Close reason is not UTF-8');
      return;
    }
    // Answer with the same code (an empty close for an empty one), then end the TCP connection.
    this.#sendClose(code === 0 ? controlFrame(OP_CLOSE, EMPTY) : closeFrame(code));
    this.#readDone();
  }

  /** Writes a pong, or, while the socket waits for 'drain', owes it until then (replacing any owed). */
  #pong(frame: Buffer): void {
    const socket = this.#socket;
    if (!socket.writableNeedDrain) {
      socket.write(frame);
      return;
    }
    owedPongs.set(this, frame);
    this.#armDrain();
  }

  /** @internal the socket's buffer was written out: the latest ping left unanswered is answered, then the handler told */
  onDrain(): void {
    const owed = (this.#flags & DRAIN_OWED) !== 0;
    this.#flags &= ~(DRAIN_ARMED | DRAIN_OWED);
    const frame = owedPongs.get(this);
    if (frame !== undefined) {
      owedPongs.delete(this);
      if ((this.#flags & NO_WRITES) === 0) this.#socket.write(frame);
    }
    if (owed) this.handler?.drain();
  }


  /** Fails the connection (§7.1.7): a close frame with `code`, then the end of the TCP connection. */
  #fail(code: number, reason: string): 0 {
    this.#sendClose(closeFrame(code, reason));
    this.#readDone();
    return 0;
  }

  #sendClose(frame: Buffer): void {
    if ((this.#flags & CLOSE_SENT) !== 0) return;
    this.#flags |= CLOSE_SENT;
    const socket = this.#socket;
    if (socket.writable) socket.write(frame);
    // A peer that never answers the close handshake cannot hold the socket open.
    setTimeout(destroySocket, CLOSE_TIMEOUT_MS, socket).unref();
  }

  /** @internal the peer ended its side of the TCP connection */
  onEnd(): void {
    this.#flags |= PEER_ENDED;
    const rest = this.#rest;
    // Whole frames kept while paused are still read, on `resume`; reading is over after them.
    if ((this.#flags & PAUSED) === 0 || rest === undefined || rest.bytes < rest.need) this.#readDone();
  }

  /** Nothing more can be read: what is kept is dropped, and our side of TCP ends too. */
  #readDone(): void {
    this.#flags |= READ_DONE;
    this.#rest = undefined;
    this.#fragments = undefined;
    this.#socket.end();
  }

  /** @internal the TCP connection is gone */
  onClose(): void {
    if ((this.#flags & CLOSED) !== 0) return;
    this.#flags |= CLOSED | READ_DONE;
    this.#rest = undefined;
    this.#fragments = undefined;
    this.handler?.closed();
  }
}

/**
 * Copies `bytes` after what `kept` holds, growing its buffer to twice its size (at least what is
 * needed, and beyond that at most `limit` bytes in all).
 */
function append(kept: Kept, bytes: Buffer, limit: number): void {
  const end = kept.bytes + bytes.length;
  if (end > kept.data.length) {
    // Not from the shared pool: bytes kept pin no one else's slab, nor they its.
    const data = Buffer.allocUnsafeSlow(Math.max(end, Math.min(2 * kept.data.length, limit)));
    kept.data.copy(data, 0, 0, kept.bytes);
    kept.data = data;
  }
  bytes.copy(kept.data, kept.bytes);
  kept.bytes = end;
}

function frameOf(frame: string | Buffer): Buffer {
  return typeof frame === 'string' ? stringFrame(frame) : textFrame(frame);
}

function socketOnData(this: Socket, chunk: Buffer): void {
  (this as TaggedSocket)[kConnection].onData(chunk);
}

function socketOnDrain(this: Socket): void {
  (this as TaggedSocket)[kConnection].onDrain();
}

function socketOnEnd(this: Socket): void {
  (this as TaggedSocket)[kConnection].onEnd();
}

function socketOnClose(this: Socket): void {
  (this as TaggedSocket)[kConnection].onClose();
}

function socketOnError(this: Socket): void {
  // 'close' follows.
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

// ---- the handshake an idle connection keeps ---------------------------------------------------

/** Headers whose values most connections share (the same host, browser, protocol version). */
const SHARED_HEADERS = new Set([
  'host',
  'upgrade',
  'connection',
  'origin',
  'user-agent',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'pragma',
  'sec-websocket-version',
  'sec-websocket-extensions',
]);
/** One copy of each such value, for every connection that sent it; bounded. */
const sharedValues = new Map<string, string>();
const MAX_SHARED_VALUES = 1024;

/**
 * Replaces the values of {@link SHARED_HEADERS} with the copy kept for them, so that an idle
 * connection keeps its own copy of the values only it sent (its WebSocket key, its cookies).
 */
export function shareValues(headers: IncomingMessage['headers']): IncomingMessage['headers'] {
  for (const name in headers) {
    const value = headers[name];
    if (typeof value !== 'string' || value.length > 512 || !SHARED_HEADERS.has(name)) continue;
    const kept = sharedValues.get(value);
    if (kept !== undefined) headers[name] = kept;
    else if (sharedValues.size < MAX_SHARED_VALUES) sharedValues.set(value, value);
  }
  return headers;
}

/** The query string of an upgrade URL, one value per name. */
export function readQuery(url: string | undefined): Readonly<Record<string, string>> {
  const at = url === undefined ? -1 : url.indexOf('?');
  if (at < 0) return NO_QUERY;
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams((url as string).slice(at + 1))) query[name] = value;
  return query;
}
