/**
 * TCP framing of protocol v1: a 4-byte big-endian unsigned length, then that many bytes of UTF-8
 * JSON. Node only (uses `Buffer`).
 */

/** Hard cap on one frame's length prefix (docs/protocol.md). */
export const MAX_TCP_FRAME_BYTES = 4 * 1024 * 1024;

/** One frame on the wire: its length prefix and its bytes. */
export function encodeTcpFrame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body], 4 + body.length);
}

/** A frame's length prefix is beyond {@link MAX_TCP_FRAME_BYTES}: the stream cannot be resynchronised. */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
}

/** Splits a byte stream into frames; keeps partial frames across chunks. */
export class TcpFrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /**
   * Adds `chunk` and returns every frame it completes, in order.
   * @throws FrameTooLargeError when a length prefix exceeds `maxBytes`
   */
  push(chunk: Buffer, maxBytes = MAX_TCP_FRAME_BYTES): string[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: string[] = [];
    if (this.#buffered < 4) return frames;
    let data = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#buffered);
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = data.readUInt32BE(offset);
      if (length > maxBytes) throw new FrameTooLargeError(`Frame of ${length} bytes exceeds ${maxBytes}`);
      if (data.length - offset - 4 < length) break;
      frames.push(data.toString('utf8', offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    data = data.subarray(offset);
    this.#chunks = data.length > 0 ? [data] : [];
    this.#buffered = data.length;
    return frames;
  }
}
