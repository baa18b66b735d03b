/**
 * A connection's bounded outgoing queue. Frames wait here between the moment the room (or a
 * reply) produces them and the next flush, which writes them all at once. The bound counts frames
 * and bytes; at the bound the policy decides: `close` reports overflow, `drop-oldest` discards the
 * oldest room events and puts a `gap` frame (reason `dropped`) in their place, so the loss is
 * visible, and reports overflow only when that cannot bring the queue under its bound. Entries
 * live in parallel arrays so that queuing a shared room event allocates nothing; the room and id of
 * each entry are kept only under `drop-oldest`, the one policy that reads them.
 */
import type { GapFrame } from './protocol.js';

/** What happens when a connection's outgoing queue is full. */
export type SlowConsumerPolicy = 'close' | 'drop-oldest';

/** One frame's bytes: JSON text, or its UTF-8 encoding shared by every connection it goes to. */
export type FrameData = string | Buffer;

/** Bytes of a frame (UTF-16 units for text, which is the byte count for ASCII). */
export function frameSize(frame: FrameData): number {
  return frame.length;
}

/** The shared empty queue; never pushed to (push replaces it first). */
const NONE: never[] = [];

interface Dropped {
  first: number;
  last: number;
}

export class Outbox {
  readonly #maxFrames: number;
  readonly #maxBytes: number;
  readonly #policy: SlowConsumerPolicy;
  // An idle connection holds no arrays: they are made by the first push after a flush.
  #frames: FrameData[] = NONE;
  /** The room of each room event (the only frames drop-oldest may discard), else undefined. */
  #rooms: (string | undefined)[] = NONE;
  /** The event id of each room event; for a gap this outbox made, -1. */
  #ids: number[] = NONE;
  #bytes = 0;
  /** Gap frames this outbox queued (by room), so later drops can extend them. Made on first drop. */
  #gaps: Map<string, GapFrame> | undefined;
  /** Room events discarded by drop-oldest and not yet counted by the owner. */
  dropped = 0;
  /** `gap` frames drop-oldest queued and not yet counted by the owner (an extended one counts once). */
  gaps = 0;
  /** Room events queued (gaps excluded), so the owner can count the events it writes. */
  #events = 0;

  constructor(maxFrames: number, maxBytes: number, policy: SlowConsumerPolicy) {
    this.#maxFrames = maxFrames;
    this.#maxBytes = maxBytes;
    this.#policy = policy;
  }

  get frames(): number {
    return this.#frames.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Room events among the queued frames. */
  get events(): number {
    return this.#events;
  }

  /**
   * Queues a frame.
   * @returns false when the queue is over its bound and the policy is `close`, or under
   *   `drop-oldest` when it is still over its bound after every room event was dropped (what is
   *   left is control frames and direct messages, which are never dropped)
   */
  push(frame: FrameData, room?: string, id = 0): boolean {
    // Rooms and ids are only read to drop events: under `close` they are not kept.
    const keep = this.#policy !== 'close';
    if (this.#frames === NONE) {
      this.#frames = [];
      if (keep) {
        this.#rooms = [];
        this.#ids = [];
      }
    }
    this.#frames.push(frame);
    if (keep) {
      this.#rooms.push(room);
      this.#ids.push(id);
    }
    this.#bytes += frame.length;
    if (room !== undefined) this.#events++;
    if (this.#frames.length <= this.#maxFrames && this.#bytes <= this.#maxBytes) return true;
    if (this.#policy === 'close') return false;
    this.#dropOldest();
    return this.#frames.length <= this.#maxFrames && this.#bytes <= this.#maxBytes;
  }

  /** Removes and returns every queued frame, in order. */
  take(): FrameData[] {
    const frames = this.#frames;
    this.clear();
    // The caller may append to what it gets (close adds `bye`): never hand out the shared empty one.
    return frames === NONE ? [] : frames;
  }

  /** Discards everything queued. */
  clear(): void {
    this.#frames = NONE;
    this.#rooms = NONE;
    this.#ids = NONE;
    this.#bytes = 0;
    this.#events = 0;
    this.#gaps = undefined;
  }

  /** Drops the oldest room events until the queue is at three quarters of its bounds. */
  #dropOldest(): void {
    const frameTarget = Math.floor(this.#maxFrames * 0.75);
    const byteTarget = Math.floor(this.#maxBytes * 0.75);
    const ranges = new Map<string, Dropped>();
    let count = this.#frames.length;
    let bytes = this.#bytes;
    const frames: FrameData[] = [];
    const rooms: (string | undefined)[] = [];
    const ids: number[] = [];
    for (let i = 0; i < this.#frames.length; i++) {
      const frame = this.#frames[i] as FrameData;
      const room = this.#rooms[i];
      const id = this.#ids[i] as number;
      if (room === undefined || id < 0 || (count <= frameTarget && bytes <= byteTarget)) {
        frames.push(frame);
        rooms.push(room);
        ids.push(id);
        continue;
      }
      count--;
      bytes -= frame.length;
      this.dropped++;
      this.#events--;
      const range = ranges.get(room);
      if (range === undefined) ranges.set(room, { first: id, last: id });
      else range.last = id;
    }
    this.#frames = frames;
    this.#rooms = rooms;
    this.#ids = ids;
    this.#bytes = bytes;
    for (const [room, range] of ranges) this.#gap(room, range);
  }

  /** Puts (or extends) the dropped-gap of `room` at the front of the queue. */
  #gap(room: string, range: Dropped): void {
    this.#gaps ??= new Map();
    const earlier = this.#gaps.get(room);
    if (earlier === undefined) {
      this.gaps++;
    } else {
      const at = this.#rooms.findIndex((r, i) => r === room && this.#ids[i] === -1);
      if (at >= 0) {
        this.#bytes -= (this.#frames[at] as FrameData).length;
        this.#frames.splice(at, 1);
        this.#rooms.splice(at, 1);
        this.#ids.splice(at, 1);
      }
    }
    const since = earlier !== undefined ? earlier.since : range.first - 1;
    const gap: GapFrame = { type: 'gap', room, since, resumeAt: range.last + 1, reason: 'dropped' };
    this.#gaps.set(room, gap);
    const text = JSON.stringify(gap);
    this.#frames.unshift(text);
    this.#rooms.unshift(room);
    this.#ids.unshift(-1);
    this.#bytes += text.length;
  }
}
