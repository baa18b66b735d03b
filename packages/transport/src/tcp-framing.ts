/**
 * TCP framing: each frame is a 4-byte big-endian unsigned length followed by that many bytes of
 * UTF-8 JSON. The decoder accumulates chunks and yields whole frames; a length over the limit is
 * an error (the stream cannot be resynchronised, so the connection must close).
 */
import { FrameTooLargeError } from './errors.js';
import { MAX_TCP_FRAME_BYTES } from './protocol.js';

const HEADER = 4;

/** Length-prefixes every frame (text or UTF-8 bytes) and joins them into one buffer (one write for the batch). */
export function encodeTcpFrames(frames: readonly (string | Buffer)[]): Buffer {
  let total = 0;
  const bodies: Buffer[] = new Array<Buffer>(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i] as string | Buffer;
    const body = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame;
    bodies[i] = body;
    total += HEADER + body.length;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const body of bodies) {
    out.writeUInt32BE(body.length, at);
    body.copy(out, at + HEADER);
    at += HEADER + body.length;
  }
  return out;
}

/** Incremental decoder of length-prefixed frames. */
export class TcpFrameDecoder {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** @param maxBytes the largest body accepted; never more than 4 MiB */
  constructor(maxBytes: number) {
    this.#maxBytes = Math.min(maxBytes, MAX_TCP_FRAME_BYTES);
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and returns the frames it completes, in order.
   * @throws {FrameTooLargeError} when a length prefix exceeds the limit
   */
  push(chunk: Buffer): string[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: string[] = [];
    while (this.#buffered >= HEADER) {
      const head = this.#peekHeader();
      if (head > this.#maxBytes) {
        throw new FrameTooLargeError(`Frame of ${head} bytes exceeds ${this.#maxBytes}`);
      }
      if (this.#buffered < HEADER + head) break;
      const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#buffered);
      frames.push(all.toString('utf8', HEADER, HEADER + head));
      const rest = all.subarray(HEADER + head);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
    }
    return frames;
  }

  #peekHeader(): number {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= HEADER) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [joined];
    return joined.readUInt32BE(0);
  }
}
