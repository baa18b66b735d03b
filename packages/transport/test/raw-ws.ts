/**
 * A WebSocket client made of bytes for the wire tests: it writes the upgrade request and every
 * frame by hand over `node:net` (masked with a fresh random key unless told not to), can split what
 * it writes at chosen offsets, and parses what the server sends without interpreting it, so that a
 * test sees exactly what crossed the wire. Every wait is bounded; `RawWs.destroyAll()` closes
 * every socket a test opened.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** The GUID RFC 6455 §1.3 appends to the key to make `Sec-WebSocket-Accept`. */
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Op = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** What `Sec-WebSocket-Accept` must be for `key`. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1). */
export function newKey(): string {
  return randomBytes(16).toString('base64');
}

/** A frame a client sends; the defaults make a well-formed, masked, final frame. */
export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** @default true */
  fin?: boolean;
  /** RSV1..RSV3 as a 3-bit number (4 = RSV1). @default 0 */
  rsv?: number;
  /** @default true (every client frame must be masked) */
  mask?: boolean;
  /** The payload length the header declares, when it should differ from the payload sent. */
  length?: number;
}

/** The bytes of a client frame, with the shortest length encoding for its declared length. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? Buffer.alloc(0));
  const length = spec.length ?? payload.length;
  const masked = spec.mask ?? true;
  const extended = length > 65535 ? 8 : length > 125 ? 2 : 0;
  const header = Buffer.alloc(2 + extended + (masked ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f);
  header[1] = (masked ? 0x80 : 0) | (extended === 8 ? 127 : extended === 2 ? 126 : length);
  if (extended === 2) header.writeUInt16BE(length, 2);
  else if (extended === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  key.copy(header, 2 + extended);
  return Buffer.concat([header, maskBytes(payload, key)]);
}

/** `payload` XOR the 4-byte `key`, as RFC 6455 §5.3 masks (and unmasks). */
function maskBytes(payload: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  const k0 = key[0] as number;
  const k1 = key[1] as number;
  const k2 = key[2] as number;
  const k3 = key[3] as number;
  let i = 0;
  for (; i + 3 < payload.length; i += 4) {
    out[i] = (payload[i] as number) ^ k0;
    out[i + 1] = (payload[i + 1] as number) ^ k1;
    out[i + 2] = (payload[i + 2] as number) ^ k2;
    out[i + 3] = (payload[i + 3] as number) ^ k3;
  }
  for (; i < payload.length; i++) out[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return out;
}

/** The payload of a close frame: a 2-byte code, then the reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

/** A frame as the server sent it. */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** How the header encoded the length: in 7 bits, or in a 16- or 64-bit extension. */
  lengthBits: 7 | 16 | 64;
  /** Unmasked. */
  payload: Buffer;
}

/** The status code of a close frame, or undefined when its payload is empty. */
export function closeCode(frame: WireFrame): number | undefined {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
}

/** Splits a byte stream into frames, however it was cut into chunks. */
class FrameParser {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WireFrame[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: WireFrame[] = [];
    for (;;) {
      const bytes = this.#pending;
      if (bytes.length < 2) break;
      const b0 = bytes[0] as number;
      const b1 = bytes[1] as number;
      const short = b1 & 0x7f;
      const extended = short === 127 ? 8 : short === 126 ? 2 : 0;
      const masked = (b1 & 0x80) !== 0;
      const headerLength = 2 + extended + (masked ? 4 : 0);
      if (bytes.length < headerLength) break;
      const length = extended === 8 ? Number(bytes.readBigUInt64BE(2)) : extended === 2 ? bytes.readUInt16BE(2) : short;
      if (bytes.length < headerLength + length) break;
      let payload = bytes.subarray(headerLength, headerLength + length);
      if (masked) payload = maskBytes(payload, bytes.subarray(2 + extended, headerLength));
      frames.push({
        fin: (b0 & 0x80) !== 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0x0f,
        masked,
        lengthBits: extended === 8 ? 64 : extended === 2 ? 16 : 7,
        payload: Buffer.from(payload),
      });
      this.#pending = bytes.subarray(headerLength + length);
    }
    return frames;
  }
}

/** The server's answer to an upgrade request: status line and headers (names in lower case). */
export interface HttpHead {
  statusLine: string;
  status: number;
  headers: Map<string, string>;
}

/** What goes into an upgrade request; every field may be left out or replaced to make it wrong. */
export interface UpgradeSpec {
  /** @default 'GET' */
  method?: string;
  /** @default '/' */
  path?: string;
  /** Header lines; `undefined` leaves a default header out. Defaults: Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version. */
  headers?: Record<string, string | undefined>;
}

/** The upgrade request text of RFC 6455 §4.1, with `spec`'s changes; returns it and the key it carries. */
export function upgradeRequest(port: number, spec: UpgradeSpec = {}): { text: string; key: string | undefined } {
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': newKey(),
    'Sec-WebSocket-Version': '13',
    ...spec.headers,
  };
  let text = `${spec.method ?? 'GET'} ${spec.path ?? '/'} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) text += `${name}: ${value}\r\n`;
  return { text: `${text}\r\n`, key: headers['Sec-WebSocket-Key'] };
}

const DEFAULT_WAIT_MS = 2000;

/** One raw TCP connection to the server's WebSocket port. */
export class RawWs {
  static readonly #all = new Set<RawWs>();

  readonly socket: Socket;
  /** Every frame the server sent, in order. */
  readonly frames: WireFrame[] = [];
  /** The answer to the upgrade request, once it has arrived. */
  head: HttpHead | undefined;
  /** Bytes after the answer's head when it was not a 101 (an error body). */
  body: Buffer = Buffer.alloc(0);
  /** Set once the server ended its side of the TCP connection (or it was reset). */
  ended = false;
  /** Set once the socket is fully closed. */
  closed = false;
  #headBytes: Buffer = Buffer.alloc(0);
  readonly #parser = new FrameParser();
  #read = 0;
  /** Waits in progress, woken by anything that arrives. */
  readonly #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#note('ended'));
    socket.on('close', () => {
      this.ended = true;
      this.#note('closed');
    });
    // A reset shows up as an error, then 'close'.
    socket.on('error', () => {});
  }

  /** A TCP connection to `port` on 127.0.0.1, nothing written yet. */
  static async connect(port: number): Promise<RawWs> {
    const socket = connect(port, '127.0.0.1');
    const raw = new RawWs(socket);
    RawWs.#all.add(raw);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return raw;
  }

  /**
   * A connection past a 101: writes the upgrade request (and `head`, the bytes to send in the same
   * write) and checks the answer's status and `Sec-WebSocket-Accept`.
   */
  static async open(port: number, spec: UpgradeSpec = {}, head?: Buffer): Promise<RawWs> {
    const raw = await RawWs.connect(port);
    const { text, key } = upgradeRequest(port, spec);
    raw.socket.write(head === undefined ? text : Buffer.concat([Buffer.from(text, 'latin1'), head]));
    const answer = await raw.response();
    if (answer.status !== 101) throw new Error(`Expected 101, got ${answer.statusLine}`);
    if (key !== undefined && answer.headers.get('sec-websocket-accept') !== acceptFor(key)) {
      throw new Error(`Wrong Sec-WebSocket-Accept ${String(answer.headers.get('sec-websocket-accept'))}`);
    }
    return raw;
  }

  /** Destroys every socket opened since the last call. */
  static destroyAll(): void {
    for (const raw of RawWs.#all) raw.socket.destroy();
    RawWs.#all.clear();
  }

  /** The status line and headers of the server's answer to the upgrade request. */
  async response(timeoutMs = DEFAULT_WAIT_MS): Promise<HttpHead> {
    await this.#until(() => this.head !== undefined, timeoutMs, 'the HTTP answer');
    return this.head as HttpHead;
  }

  /** Writes `bytes`; with `cuts`, as separate writes cut at those offsets, pausing between them. */
  async write(bytes: Buffer, cuts: readonly number[] = []): Promise<void> {
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      if (cut <= from) continue;
      await new Promise<void>((resolve) => this.socket.write(bytes.subarray(from, cut), () => resolve()));
      from = cut;
      // A timer, so that the server's socket is read before the next piece is written.
      if (from < bytes.length) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Writes one client frame. */
  send(spec: FrameSpec): Promise<void> {
    return this.write(encodeFrame(spec));
  }

  /** Writes a JSON protocol frame as one text frame. */
  sendJson(frame: object): Promise<void> {
    return this.send({ opcode: Op.text, payload: JSON.stringify(frame) });
  }

  /** The next frame not yet read. */
  async nextFrame(timeoutMs = DEFAULT_WAIT_MS): Promise<WireFrame> {
    await this.#until(() => this.#read < this.frames.length, timeoutMs, 'a frame');
    return this.frames[this.#read++] as WireFrame;
  }

  /**
   * The next text frame whose JSON has `type` (every frame is parsed; text frames of other types
   * are skipped, any other frame is an error).
   */
  async nextJson(type: string, timeoutMs = DEFAULT_WAIT_MS): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (frame.opcode !== Op.text) throw new Error(`Expected a text frame, got opcode ${frame.opcode}`);
      const json = JSON.parse(frame.payload.toString('utf8')) as Record<string, unknown>;
      if (json['type'] === type) return json;
    }
  }

  /** The next close frame; what comes before it must be text frames. */
  async nextClose(timeoutMs = DEFAULT_WAIT_MS): Promise<WireFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (frame.opcode === Op.close) return frame;
      if (frame.opcode !== Op.text) throw new Error(`Expected text frames then a close frame, got opcode ${frame.opcode}`);
    }
  }

  /** Frames received and not yet read. */
  unread(): WireFrame[] {
    return this.frames.slice(this.#read);
  }

  /** Resolves once the server has ended its side of the TCP connection; rejects after `timeoutMs`. */
  waitEnded(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.#until(() => this.ended, timeoutMs, 'the server to end the TCP connection');
  }

  /** Resolves once the socket is fully closed; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.#until(() => this.closed, timeoutMs, 'the TCP connection to close');
  }

  #onData(chunk: Buffer): void {
    if (this.head === undefined) {
      this.#headBytes = Buffer.concat([this.#headBytes, chunk]);
      const end = this.#headBytes.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.#headBytes.subarray(0, end).toString('latin1').split('\r\n');
      const statusLine = lines[0] as string;
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name) as string}, ${value}` : value);
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
      this.head = { statusLine, status: status === undefined ? 0 : Number(status), headers };
      chunk = this.#headBytes.subarray(end + 4);
      this.#headBytes = Buffer.alloc(0);
    }
    if (this.head.status !== 101) this.body = Buffer.concat([this.body, chunk]);
    else if (chunk.length > 0) this.frames.push(...this.#parser.push(chunk));
    this.#wakeAll();
  }

  #wakeAll(): void {
    for (const wake of this.#waiters) wake();
  }

  #note(what: 'ended' | 'closed'): void {
    this[what] = true;
    this.#wakeAll();
  }

  async #until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }
}
