const CHUNK = 256 * 1024;
const NEWLINE = 0x0a;

/** A Buffer with Node's unchecked UTF-8 writer. */
interface Utf8Chunk extends Buffer {
  utf8Write(text: string, offset: number): number;
}

/**
 * A chunk whose `utf8Write` is `buf.write(text, offset, 'utf8')` without the argument checks, which
 * cost more than the copy for a line of ~100 bytes. Node has had it on every Buffer since v0.x; the
 * fallback covers a runtime without it.
 */
function allocChunk(size: number): Utf8Chunk {
  const chunk = Buffer.allocUnsafeSlow(size) as Utf8Chunk;
  if (typeof chunk.utf8Write !== 'function') {
    chunk.utf8Write = function utf8Write(this: Buffer, text: string, offset: number): number {
      return this.write(text, offset, 'utf8');
    };
  }
  return chunk;
}

/** What {@link LineBuffer.take} hands to the write loop. */
export interface TakenLines {
  /** The lines, newline-terminated, in order, across one or more chunks. */
  readonly chunks: Buffer[];
  /** Total bytes of `chunks`. */
  readonly bytes: number;
  /** How many lines. */
  readonly count: number;
  /** The last id of each room among the lines. */
  readonly lastIds: Map<string, number>;
}

/**
 * The lines waiting to be written, encoded into off-heap chunks as they arrive. Each line's string
 * is garbage as soon as it is copied, so it never outlives a young-generation collection however
 * long the write takes: the collector has nothing of the log's to trace or move.
 */
export class LineBuffer {
  #chunk = allocChunk(CHUNK);
  /** Bytes of `#chunk` before it belong to lines already taken (possibly being written). */
  #start = 0;
  #used = 0;
  #sealed: Buffer[] = [];
  #sealedBytes = 0;
  #count = 0;
  /** Last id per room among the waiting lines, except the latest room's, kept in the two fields below. */
  #lastIds = new Map<string, number>();
  #room: string | undefined;
  #id = 0;

  /** Lines waiting. */
  get length(): number {
    return this.#count;
  }

  /**
   * Appends one line (without its newline) of room `chatroomId` with event id `id`.
   * @returns the bytes it takes in the file, newline included
   */
  push(line: string, chatroomId: string, id: number): number {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const most = line.length * 3 + 1;
    if (this.#used + most > this.#chunk.length) {
      this.#seal();
      this.#chunk = allocChunk(Math.max(CHUNK, most));
      this.#start = 0;
      this.#used = 0;
    }
    const bytes = this.#chunk.utf8Write(line, this.#used) + 1;
    this.#used += bytes - 1;
    this.#chunk[this.#used++] = NEWLINE;
    this.#count++;
    // Most sinks serve one room: touch the map only when the room changes.
    if (chatroomId !== this.#room) {
      if (this.#room !== undefined) this.#lastIds.set(this.#room, this.#id);
      this.#room = chatroomId;
    }
    this.#id = id;
    return bytes;
  }

  /** Takes every waiting line. */
  take(): TakenLines {
    this.#seal();
    const lastIds = this.#lastIds;
    if (this.#room !== undefined) lastIds.set(this.#room, this.#id);
    const taken: TakenLines = { chunks: this.#sealed, bytes: this.#sealedBytes, count: this.#count, lastIds };
    this.#sealed = [];
    this.#sealedBytes = 0;
    this.#count = 0;
    this.#lastIds = new Map();
    this.#room = undefined;
    return taken;
  }

  /**
   * Moves the lines written into the current chunk since the last seal out, as a view. New lines go
   * on after them in the same chunk: a batch of a few hundred lines does not cost a chunk.
   */
  #seal(): void {
    if (this.#used === this.#start) return;
    this.#sealed.push(this.#chunk.subarray(this.#start, this.#used));
    this.#sealedBytes += this.#used - this.#start;
    this.#start = this.#used;
  }
}

/**
 * Splits newline-terminated `data` at a line boundary so the first part is at most `room` bytes.
 * Returns the cut offset: 0 when not even one line fits, `data.length` when all of it does.
 */
export function cutAt(data: Buffer, room: number): number {
  if (data.length <= room) return data.length;
  if (room <= 0) return 0;
  const at = data.lastIndexOf(NEWLINE, room - 1);
  return at < 0 ? 0 : at + 1;
}

/** The length of the first line of newline-terminated `data`, newline included. */
export function firstLine(data: Buffer): number {
  const at = data.indexOf(NEWLINE);
  return at < 0 ? data.length : at + 1;
}
