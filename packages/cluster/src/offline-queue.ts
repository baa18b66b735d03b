/**
 * Direct messages in Redis until their recipient acknowledges them, shared by every node: a message
 * sent on one node reaches the recipient's connections on every node at once (a notice on a Redis
 * channel), and whatever is still pending is there for the recipient's next connection, wherever
 * it lands. Implements the transport's `OfflineQueue` (push, pending, ack, follow).
 */
import type { RedisStore } from './redis-store.js';
import { OFFLINE_PUSH } from './scripts.js';

/** A direct message as the transport queues it (its `DirectFrame`): what the queue needs of it. */
export interface QueuedMessage {
  readonly id: string;
}

/** Options of {@link RedisOfflineQueue}. */
export interface RedisOfflineQueueOptions {
  /** Unacknowledged messages kept per user; past it `push` refuses. @default 100 */
  maxPerUser?: number;
  /** How long a message is kept at most; expired ones are never delivered. @default 86400000 (1 day) */
  ttlMs?: number;
}

interface Kept<M> {
  readonly expiresAt: number;
  readonly message: M;
}

const CHANNEL = 'directs';

/**
 * @example
 * const server = new HubServer({ store, offlineQueue: new RedisOfflineQueue<DirectFrame>(store) });
 */
export class RedisOfflineQueue<M extends QueuedMessage = QueuedMessage> {
  readonly #store: RedisStore;
  readonly #maxPerUser: number;
  readonly #ttlMs: number;

  /** @throws {TypeError} for limits that are not integers >= 1 */
  constructor(store: RedisStore, options: RedisOfflineQueueOptions = {}) {
    this.#store = store;
    this.#maxPerUser = positive('maxPerUser', options.maxPerUser, 100);
    this.#ttlMs = positive('ttlMs', options.ttlMs, 86_400_000);
  }

  /**
   * Keeps `message` for `userId` (at most `ttlMs`, or the queue's own TTL when shorter) and tells
   * the other nodes. @returns false when the user's queue is full
   */
  async push(userId: string, message: M, ttlMs?: number): Promise<boolean> {
    const now = Date.now();
    const expiresAt = now + Math.min(this.#ttlMs, ttlMs ?? this.#ttlMs);
    const kept: Kept<M> = { expiresAt, message };
    const notice = JSON.stringify({ to: userId, node: this.#store.nodeId, message });
    const result = await OFFLINE_PUSH.run(this.#store.redis, this.#keys(userId), [
      message.id,
      JSON.stringify(kept),
      expiresAt,
      now,
      this.#maxPerUser,
      `${this.#store.prefix}:${CHANNEL}`,
      notice,
    ]);
    return Number(result) === 1;
  }

  /** Every unacknowledged, unexpired message for `userId`, oldest first. */
  async pending(userId: string): Promise<M[]> {
    const [order, , messages] = this.#keys(userId);
    const ids = await this.#store.redis.zrange(order as string, '0', '-1');
    if (ids.length === 0) return [];
    const texts = await this.#store.redis.hmget(messages as string, ...ids);
    const now = Date.now();
    const result: M[] = [];
    for (const text of texts) {
      if (text === null) continue;
      const kept = JSON.parse(text) as Kept<M>;
      if (kept.expiresAt > now) result.push(kept.message);
    }
    return result;
  }

  /** Removes the messages of `userId` with these ids. */
  async ack(userId: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const [order, expiry, messages] = this.#keys(userId) as [string, string, string];
    await this.#store.redis.multi().zrem(order, ...ids).zrem(expiry, ...ids).hdel(messages, ...ids).exec();
  }

  /** Calls `deliver` for every message another node pushes, for this node's connections of its recipient. */
  follow(deliver: (userId: string, message: M) => void): void {
    void this.#store.subscribe(CHANNEL, (text) => {
      const { to, node, message } = JSON.parse(text) as { to: string; node: string; message: M };
      if (node !== this.#store.nodeId) deliver(to, message);
    });
  }

  #keys(userId: string): string[] {
    const base = `${this.#store.prefix}:offline:{${userId}}:`;
    return [`${base}order`, `${base}expiry`, `${base}messages`, `${base}seq`];
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result < 1) throw new TypeError(`Expected \`${name}\` to be an integer >= 1, got ${String(value)}`);
  return result;
}
