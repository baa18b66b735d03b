/**
 * Follows the streams of every room a node has open with one blocking XREAD over all of them, on a
 * connection of its own, and hands each room's new events to its hub in order. The read is re-armed
 * after every answer and every error; each room's cursor is the id of the last event handed over,
 * so after a reconnect the node goes on exactly where it stopped, nothing skipped or repeated.
 */
import { randomId, type HubEvent, type RoomFollower } from '@msghub/messagehub';
import type { Redis } from 'ioredis';
import { MalformedEntryError, RedisUnavailableError, SequenceResetError, type ClusterError } from './errors.js';
import { CHECK_SEQUENCE } from './scripts.js';

interface Followed {
  readonly room: string;
  readonly key: string;
  readonly metaKey: string;
  readonly epoch: string;
  readonly follower: RoomFollower<unknown>;
  /** The id of the last event handed over. */
  cursor: number;
  /** Appends waiting for the cursor to reach an id (see {@link StreamFollower.reached}). */
  readonly waiters: { readonly id: number; readonly resolve: () => void }[];
}

/** What the follower needs from its store. */
export interface FollowerHost {
  /** The connection reads block on; nothing else uses it. */
  readonly blocking: Redis;
  /** The connection for everything else. */
  readonly command: Redis;
  readonly wakeKey: string;
  readonly blockMs: number;
  readonly readCount: number;
  readonly report: (error: ClusterError | Error) => void;
}

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][];

const ENTRY_ID = /^(\d+)-0$/;

export class StreamFollower {
  readonly #host: FollowerHost;
  /** By stream key. */
  readonly #rooms = new Map<string, Followed>();
  #wakeCursor = '0-0';
  #running = false;
  #closed = false;
  /** Resolves the loop's wait for a first room. */
  #changed: (() => void) | undefined;
  /** After a reconnect, every room's epoch is checked before reading on. */
  #checkEpochs = false;
  #failing = false;
  #stopped: Promise<void> = Promise.resolve();
  /** Resolves when the blocking connection breaks: a read in flight on it will not be answered. */
  #broken!: Promise<null>;
  #breakNow!: () => void;

  constructor(host: FollowerHost) {
    this.#host = host;
    this.#armBroken();
    host.blocking.on('close', () => {
      this.#checkEpochs = true;
      this.#breakNow();
    });
  }

  #armBroken(): void {
    this.#broken = new Promise<null>((resolve) => {
      this.#breakNow = () => {
        this.#armBroken();
        resolve(null);
      };
    });
  }

  /** Rooms followed. */
  get size(): number {
    return this.#rooms.size;
  }

  follow(room: string, key: string, metaKey: string, epoch: string, afterId: number, follower: RoomFollower<unknown>): () => void {
    const followed: Followed = { room, key, metaKey, epoch, follower, cursor: afterId, waiters: [] };
    this.#rooms.set(key, followed);
    this.#wake();
    return () => {
      if (this.#rooms.get(key) !== followed) return;
      this.#rooms.delete(key);
      release(followed, Infinity);
      this.#wake();
    };
  }

  /**
   * Resolves once the stream of the room followed at `key` has been read up to `id` (at once when
   * the room is not followed, or stops being). The store waits here before appending more, so that
   * a node never appends so far ahead of its own reading that the stream's trimming overtakes it.
   */
  reached(key: string, id: number): Promise<void> {
    const followed = this.#rooms.get(key);
    if (followed === undefined || followed.cursor >= id) return Promise.resolve();
    return new Promise((resolve) => followed.waiters.push({ id, resolve }));
  }

  /** Stops reading; resolves once the loop has ended. */
  close(): Promise<void> {
    this.#closed = true;
    this.#changed?.();
    return this.#stopped;
  }

  #wake(): void {
    if (this.#closed) return;
    if (!this.#running) {
      this.#running = true;
      this.#stopped = this.#run();
      return;
    }
    if (this.#changed !== undefined) {
      this.#changed();
      return;
    }
    // The loop may be blocked in XREAD with the old set of streams: an entry in the wake stream,
    // which every read includes, answers it at once.
    this.#host.command.xadd(this.#host.wakeKey, 'MAXLEN', '~', '10', '*', 'w', '1').catch(noop);
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      if (this.#rooms.size === 0) {
        await new Promise<void>((resolve) => (this.#changed = resolve));
        this.#changed = undefined;
        continue;
      }
      if (this.#checkEpochs && !(await this.#verifyEpochs())) continue;
      const keys = [this.#host.wakeKey];
      const ids = [this.#wakeCursor];
      for (const followed of this.#rooms.values()) {
        keys.push(followed.key);
        ids.push(`${followed.cursor}-0`);
      }
      let reply: StreamReply | null;
      try {
        const read = this.#host.blocking.xread('COUNT', this.#host.readCount, 'BLOCK', this.#host.blockMs, 'STREAMS', ...keys, ...ids);
        // A read on a connection that broke is never answered (it is not sent again): read anew.
        reply = (await Promise.race([read, this.#broken])) as StreamReply | null;
      } catch (error) {
        if (this.#closed) break;
        this.#fail(error);
        await sleep(Math.min(this.#host.blockMs, 200));
        continue;
      }
      if (this.#failing) {
        this.#failing = false;
        this.#checkEpochs = true;
      }
      if (reply !== null) await this.#deliver(reply);
    }
  }

  async #deliver(reply: StreamReply): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const [key, entries] of reply) {
      if (key === this.#host.wakeKey) {
        const last = entries.at(-1);
        if (last !== undefined) this.#wakeCursor = last[0];
        continue;
      }
      const followed = this.#rooms.get(key);
      if (followed === undefined) continue;
      const events: HubEvent<unknown>[] = [];
      const lines: string[] = [];
      for (const [entryId, fields] of entries) {
        const match = ENTRY_ID.exec(entryId);
        const id = match === null ? Number.NaN : Number(match[1]);
        if (Number.isSafeInteger(id) && id > followed.cursor) followed.cursor = id;
        const line = fieldOf(fields, 'e');
        const event = line === undefined ? undefined : parseEvent(line, id, followed.room);
        if (event === undefined || line === undefined) {
          this.#host.report(new MalformedEntryError(`Entry ${entryId} of the stream of room ${followed.room} is not one of its events; skipped`, followed.room, entryId));
          continue;
        }
        events.push(event);
        lines.push(line);
      }
      release(followed, followed.cursor);
      if (events.length === 0) continue;
      try {
        const wait = followed.follower.events(events, lines);
        if (wait !== undefined) waits.push(wait.catch(this.#host.report));
      } catch (error) {
        this.#host.report(error as Error);
      }
    }
    // A room whose mailbox is full slows the reads down rather than piling events up.
    if (waits.length > 0) await Promise.all(waits);
  }

  /**
   * Checks that every followed room still has the sequence it was opened with (its epoch, and ids
   * up to the last delivered one); stops those that do not.
   */
  async #verifyEpochs(): Promise<boolean> {
    const rooms = [...this.#rooms.values()];
    let same: unknown[];
    try {
      same = await Promise.all(
        rooms.map((followed) => CHECK_SEQUENCE.run(this.#host.command, [followed.metaKey], [followed.epoch, followed.cursor, randomId()])),
      );
    } catch (error) {
      this.#fail(error);
      await sleep(Math.min(this.#host.blockMs, 200));
      return false;
    }
    this.#checkEpochs = false;
    rooms.forEach((followed, i) => {
      if (Number(same[i]) === 1) return;
      this.#rooms.delete(followed.key);
      release(followed, Infinity);
      followed.follower.failed(
        new SequenceResetError(`The sequence of room ${followed.room} in Redis is not the one it was opened with (Redis lost some of it)`, followed.room),
      );
    });
    return true;
  }

  #fail(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#host.report(new RedisUnavailableError('Reading the rooms\' streams failed; retrying', { cause: error }));
  }
}

/** Lets the appends waiting for `followed` up to `cursor` go on. */
function release(followed: Followed, cursor: number): void {
  const { waiters } = followed;
  if (waiters.length === 0) return;
  let kept = 0;
  for (const waiter of waiters) {
    if (waiter.id <= cursor) waiter.resolve();
    else waiters[kept++] = waiter;
  }
  waiters.length = kept;
}

function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parseEvent(line: string, id: number, room: string): HubEvent<unknown> | undefined {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return undefined;
  }
  const e = event as Partial<HubEvent<unknown>> | null;
  if (typeof e !== 'object' || e === null || e.id !== id || e.chatroomId !== room || typeof e.type !== 'string') return undefined;
  return e as HubEvent<unknown>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function noop(): void {}
