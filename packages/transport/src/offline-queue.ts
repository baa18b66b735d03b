/**
 * Where user-to-user `direct` messages wait while their recipient has no connection. The server
 * pushes to it when the recipient is offline and takes everything for a user, in order, when that
 * user next connects. Implement {@link OfflineQueue} to keep them elsewhere (Redis, a database).
 */
import type { DirectFrame } from './protocol.js';

/** A store of direct messages per offline user. Methods may be sync or async. */
export interface OfflineQueue {
  /**
   * Keeps `message` for `userId`.
   * @returns false when the user's queue is full (the sender gets `OFFLINE_QUEUE_FULL`)
   */
  push(userId: string, message: DirectFrame): boolean | Promise<boolean>;
  /** Removes and returns every live message for `userId`, oldest first. */
  take(userId: string): readonly DirectFrame[] | Promise<readonly DirectFrame[]>;
}

/** Options of {@link MemoryOfflineQueue}. */
export interface MemoryOfflineQueueOptions {
  /** Messages kept per user; past it `push` refuses. @default 100 */
  maxPerUser?: number;
  /** Users with waiting messages; past it `push` refuses for new users. @default 10000 */
  maxUsers?: number;
  /** How long a message is kept; expired ones are never delivered. @default 86400000 (1 day) */
  ttlMs?: number;
  /** @default Date.now */
  clock?: () => number;
}

interface Waiting {
  readonly message: DirectFrame;
  readonly expiresAt: number;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result < 1) {
    throw new TypeError(`Expected \`${name}\` to be an integer >= 1, got ${String(value)}`);
  }
  return result;
}

/** The default {@link OfflineQueue}: in memory, bounded per user and in users, with a TTL. */
export class MemoryOfflineQueue implements OfflineQueue {
  readonly #maxPerUser: number;
  readonly #maxUsers: number;
  readonly #ttlMs: number;
  readonly #clock: () => number;
  readonly #users = new Map<string, Waiting[]>();
  /** No user's messages have all expired before this time (when the last sweep ran). */
  #nextExpiry = 0;

  constructor(options: MemoryOfflineQueueOptions = {}) {
    this.#maxPerUser = positive('maxPerUser', options.maxPerUser, 100);
    this.#maxUsers = positive('maxUsers', options.maxUsers, 10_000);
    this.#ttlMs = positive('ttlMs', options.ttlMs, 86_400_000);
    this.#clock = options.clock ?? Date.now;
  }

  /** Messages waiting, over all users (expired ones included until met). */
  get size(): number {
    let total = 0;
    for (const list of this.#users.values()) total += list.length;
    return total;
  }

  push(userId: string, message: DirectFrame): boolean {
    const now = this.#clock();
    let list = this.#users.get(userId);
    if (list === undefined) {
      if (this.#users.size >= this.#maxUsers && !this.#sweep(now)) return false;
      list = [];
      this.#users.set(userId, list);
    }
    while (list.length > 0 && (list[0] as Waiting).expiresAt <= now) list.shift();
    if (list.length >= this.#maxPerUser) return false;
    list.push({ message, expiresAt: now + this.#ttlMs });
    return true;
  }

  take(userId: string): readonly DirectFrame[] {
    const list = this.#users.get(userId);
    if (list === undefined) return [];
    this.#users.delete(userId);
    const now = this.#clock();
    return list.filter((waiting) => waiting.expiresAt > now).map((waiting) => waiting.message);
  }

  /**
   * Forgets the users whose every message expired (users who never came back would otherwise hold
   * their places for good). Runs at most once per expiry, so refusals at the bound stay cheap.
   * @returns whether there is room for another user
   */
  #sweep(now: number): boolean {
    if (now < this.#nextExpiry) return false;
    let next = Infinity;
    for (const [userId, list] of this.#users) {
      const last = list.at(-1);
      if (last === undefined || last.expiresAt <= now) this.#users.delete(userId);
      else if (last.expiresAt < next) next = last.expiresAt;
    }
    this.#nextExpiry = next;
    return this.#users.size < this.#maxUsers;
  }
}
