/**
 * Where user-to-user `direct` messages wait until their recipient acknowledges them. The server
 * pushes every such message before it sends it, sends a user's pending messages to each new
 * connection of that user, and removes them when a client acknowledges them (`ack` frame): at
 * least once to every connection until acknowledged. Implement {@link OfflineQueue} to keep them
 * elsewhere (Redis, a database); `FileOfflineQueue` keeps them in a journal file.
 */
import type { DirectFrame } from './protocol.js';

/** A store of unacknowledged direct messages per user. Methods may be sync or async. */
export interface OfflineQueue {
  /**
   * Keeps `message` for `userId` until it is acknowledged or expires. The server sends it to the
   * user only after this settled, and answers the sender `ok` then: a queue that resolves once the
   * message is durable makes that `ok` mean "survives a crash".
   * @param ttlMs how long the sender wants it kept; the queue keeps it for at most its own TTL
   * @returns false when the user's queue is full (the sender gets `OFFLINE_QUEUE_FULL`)
   */
  push(userId: string, message: DirectFrame, ttlMs?: number): boolean | Promise<boolean>;
  /** Every unacknowledged, unexpired message for `userId`, oldest first, without removing them. */
  pending(userId: string): readonly DirectFrame[] | Promise<readonly DirectFrame[]>;
  /** Removes the messages of `userId` with these ids; unknown ids (acknowledged already, expired) are ignored. */
  ack(userId: string, ids: readonly string[]): void | Promise<void>;
  /**
   * For a queue several servers share (`@msghub/cluster`'s `RedisOfflineQueue`): calls `deliver`
   * with each message another server pushed, and this server sends it to its own connections of
   * the recipient. Called once, by the server.
   */
  follow?(deliver: (userId: string, message: DirectFrame) => void): void;
}

/** Options of {@link MemoryOfflineQueue} (and of `FileOfflineQueue`). */
export interface MemoryOfflineQueueOptions {
  /** Unacknowledged messages kept per user; past it `push` refuses. @default 100 */
  maxPerUser?: number;
  /** Users with unacknowledged messages; past it `push` refuses for new users. @default 10000 */
  maxUsers?: number;
  /** How long a message is kept at most; expired ones are never delivered. @default 86400000 (1 day) */
  ttlMs?: number;
  /** @default Date.now */
  clock?: () => number;
}

/** The limits of a queue, validated. */
export interface QueueLimits {
  readonly maxPerUser: number;
  readonly maxUsers: number;
  readonly ttlMs: number;
  readonly clock: () => number;
}

function positive(name: string, value: unknown, fallback: number): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || !Number.isSafeInteger(result) || result < 1) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= 1, got ${String(value)}`);
  }
  return result;
}

/**
 * Validates the options shared by the memory and file queues and fills in the defaults.
 * @throws {TypeError} for a bound that is not an integer >= 1 or a clock that is not a function
 */
export function resolveQueueLimits(options: MemoryOfflineQueueOptions): QueueLimits {
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') throw new TypeError(`Expected \`clock\` to be a function, got ${typeof clock}`);
  return {
    maxPerUser: positive('maxPerUser', options.maxPerUser, 100),
    maxUsers: positive('maxUsers', options.maxUsers, 10_000),
    ttlMs: positive('ttlMs', options.ttlMs, 86_400_000),
    clock,
  };
}

/** When a message pushed at `now` with the sender's `ttlMs` expires under the queue's `limit`. */
export function expiryOf(now: number, ttlMs: number | undefined, limit: number): number {
  return now + (ttlMs === undefined || !(ttlMs > 0) ? limit : Math.min(ttlMs, limit));
}

/** One message in a {@link WaitingTable}. */
export interface Waiting {
  readonly message: DirectFrame;
  readonly expiresAt: number;
  /** Whether it may be handed out (a file queue sets it once the message is on disk). */
  ready: boolean;
}

/**
 * The per-user lists behind both queues: bounded per user and in users, expiry checked when read,
 * users whose every message expired forgotten when their place is needed.
 */
export class WaitingTable {
  readonly #maxPerUser: number;
  readonly #maxUsers: number;
  readonly #users = new Map<string, Waiting[]>();
  /** No user's messages have all expired before this time (when the last sweep ran). */
  #nextExpiry = 0;

  constructor(limits: Pick<QueueLimits, 'maxPerUser' | 'maxUsers'>) {
    this.#maxPerUser = limits.maxPerUser;
    this.#maxUsers = limits.maxUsers;
  }

  /** Messages kept, over all users (expired ones included until met). */
  get size(): number {
    let total = 0;
    for (const list of this.#users.values()) total += list.length;
    return total;
  }

  /**
   * Adds `waiting` for `userId`.
   * @param force add past the bounds (what a journal held before a restart is never dropped)
   * @returns false at the bound
   */
  add(userId: string, waiting: Waiting, now: number, force = false): boolean {
    let list = this.#users.get(userId);
    if (list === undefined) {
      if (!force && this.#users.size >= this.#maxUsers && !this.#sweep(now)) return false;
      list = [];
      this.#users.set(userId, list);
      this.#nextExpiry = Math.min(this.#nextExpiry, waiting.expiresAt);
    }
    if (!force && list.length >= this.#maxPerUser) {
      // Lifetimes differ per message: an expired one may sit anywhere in the list.
      const live = list.filter((w) => w.expiresAt > now);
      if (live.length >= this.#maxPerUser) return false;
      list.splice(0, list.length, ...live);
    }
    list.push(waiting);
    return true;
  }

  /** The ready, unexpired messages of `userId`, oldest first. */
  pending(userId: string, now: number): DirectFrame[] {
    const list = this.#users.get(userId);
    if (list === undefined) return [];
    const result: DirectFrame[] = [];
    for (const waiting of list) if (waiting.ready && waiting.expiresAt > now) result.push(waiting.message);
    return result;
  }

  /** Removes the messages of `userId` whose id is in `ids`. @returns the ids removed */
  remove(userId: string, ids: readonly string[]): string[] {
    const list = this.#users.get(userId);
    if (list === undefined) return [];
    const wanted = new Set(ids);
    const removed: string[] = [];
    const kept = list.filter((waiting) => {
      if (!wanted.has(waiting.message.id)) return true;
      removed.push(waiting.message.id);
      return false;
    });
    if (removed.length > 0) this.#replace(userId, kept);
    return removed;
  }

  /** Removes one entry (a push that failed to reach the disk). */
  drop(userId: string, waiting: Waiting): void {
    const list = this.#users.get(userId);
    if (list !== undefined) this.#replace(userId, list.filter((w) => w !== waiting));
  }

  /** Every user's list, for a snapshot. */
  entries(): IterableIterator<[string, readonly Waiting[]]> {
    return this.#users.entries();
  }

  #replace(userId: string, list: Waiting[]): void {
    if (list.length === 0) {
      this.#users.delete(userId);
      return;
    }
    this.#users.set(userId, list);
    // The user's list may now run out earlier than the last sweep assumed.
    let last = 0;
    for (const waiting of list) last = Math.max(last, waiting.expiresAt);
    this.#nextExpiry = Math.min(this.#nextExpiry, last);
  }

  /**
   * Forgets expired messages and the users left with none (users who never came back would
   * otherwise hold their places for good). Runs at most once per expiry, so refusals at the bound
   * stay cheap.
   * @returns whether there is room for another user
   */
  #sweep(now: number): boolean {
    if (now < this.#nextExpiry) return false;
    let next = Infinity;
    for (const [userId, list] of this.#users) {
      const live = list.filter((waiting) => waiting.expiresAt > now);
      if (live.length === 0) {
        this.#users.delete(userId);
        continue;
      }
      if (live.length < list.length) this.#users.set(userId, live);
      let last = 0;
      for (const waiting of live) last = Math.max(last, waiting.expiresAt);
      next = Math.min(next, last);
    }
    this.#nextExpiry = next;
    return this.#users.size < this.#maxUsers;
  }
}

/**
 * The default {@link OfflineQueue}: in memory (lost on restart), bounded per user and in users,
 * with a TTL per message.
 */
export class MemoryOfflineQueue implements OfflineQueue {
  readonly #limits: QueueLimits;
  readonly #table: WaitingTable;

  /** @throws {TypeError} for an option of the wrong type or range */
  constructor(options: MemoryOfflineQueueOptions = {}) {
    this.#limits = resolveQueueLimits(options);
    this.#table = new WaitingTable(this.#limits);
  }

  /** Messages waiting, over all users (expired ones included until met). */
  get size(): number {
    return this.#table.size;
  }

  push(userId: string, message: DirectFrame, ttlMs?: number): boolean {
    const now = this.#limits.clock();
    return this.#table.add(userId, { message, expiresAt: expiryOf(now, ttlMs, this.#limits.ttlMs), ready: true }, now);
  }

  pending(userId: string): readonly DirectFrame[] {
    return this.#table.pending(userId, this.#limits.clock());
  }

  ack(userId: string, ids: readonly string[]): void {
    this.#table.remove(userId, ids);
  }
}
