/**
 * One session per user in a room, for the whole cluster: the session that joins first claims the
 * room for its user in Redis, atomically (one script on the room's slot), and every other session
 * of that user, on any node, is refused until the claim is let go. A node's claims are indexed
 * under the node, so that a survivor lets them go when the node dies.
 */
import { nodeClaimsKey, roomClaimsKey } from './keys.js';
import type { RedisStore } from './redis-store.js';
import { CLAIM, RELEASE } from './scripts.js';

/**
 * The transport's `roomClaims` option on Redis.
 *
 * @example
 * const server = new HubServer({ store, uniqueUsers: true, roomClaims: new ClusterRoomClaims(store) });
 */
export class ClusterRoomClaims {
  readonly #store: RedisStore;

  constructor(store: RedisStore) {
    this.#store = store;
    store.onNodeDeath((node) => this.#forgetNode(node));
  }

  /**
   * Claims `room` for session `sessionId` of `userId`.
   * @returns true when that session holds the room now, false when another session of the user does
   */
  async claim(room: string, userId: string, sessionId: string): Promise<boolean> {
    const { redis, prefix, nodeId } = this.#store;
    const entry = JSON.stringify([room, userId, sessionId]);
    // Indexed first: a node that dies right after the claim leaves nothing a survivor cannot find.
    await redis.sadd(nodeClaimsKey(prefix, nodeId), entry);
    const held = (await CLAIM.run(redis, [roomClaimsKey(prefix, room)], [userId, JSON.stringify([nodeId, sessionId])])) === 1;
    if (!held) await redis.srem(nodeClaimsKey(prefix, nodeId), entry);
    return held;
  }

  /** Lets the claim of session `sessionId` go (nothing happens when it holds none). */
  async release(room: string, userId: string, sessionId: string): Promise<void> {
    const { redis, prefix, nodeId } = this.#store;
    await Promise.all([
      RELEASE.run(redis, [roomClaimsKey(prefix, room)], [userId, JSON.stringify([nodeId, sessionId])]),
      redis.srem(nodeClaimsKey(prefix, nodeId), JSON.stringify([room, userId, sessionId])),
    ]);
  }

  /** Lets every claim of a dead node go. */
  async #forgetNode(node: string): Promise<void> {
    const { redis, prefix } = this.#store;
    const key = nodeClaimsKey(prefix, node);
    for (const entry of await redis.smembers(key)) {
      const [room, userId, sessionId] = JSON.parse(entry) as [string, string, string];
      await RELEASE.run(redis, [roomClaimsKey(prefix, room)], [userId, JSON.stringify([node, sessionId])]);
    }
    await redis.del(key);
  }
}
