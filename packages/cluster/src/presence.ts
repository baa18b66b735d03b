/**
 * Who is connected, on every node: each node records its authenticated connections in Redis (by
 * user and by node, so that survivors forget a dead node's), answers `online` and room `presence`
 * for the whole cluster, and passes kicks and single sign-on between nodes.
 */
import type { RedisStore } from './redis-store.js';
import { roomKeys } from './keys.js';

/** A connection as the server's `onConnect`/`onDisconnect` hooks hand it over. */
export interface PresenceConnection {
  readonly id: string;
  readonly userId: string;
}

/** A room member across the cluster. */
export interface PresenceMember {
  readonly userId: string;
  readonly sessions: number;
}

/** What {@link ClusterPresence.attach} needs of a `HubServer`. */
export interface PresenceServer {
  kick(userId: string, reason?: string): number;
  handle(op: string, handler: (input: unknown) => unknown): unknown;
  readonly rooms: { get(name: string): { presence(): Promise<readonly PresenceMember[]> } | undefined };
}

/** Options of {@link ClusterPresence}. */
export interface ClusterPresenceOptions {
  /**
   * One connection per user in the whole cluster: a user's new connection on any node kicks the
   * older ones on the others (with the server's `kick`, code `KICKED`, reason "Signed in
   * elsewhere"); on its own node the server's `singleSession` does it. @default false
   */
  singleSession?: boolean;
  /** Errors with no caller (recording a connection failed). @default console.error */
  onError?: (error: unknown) => void;
}

/** The reason of the kick that ends a connection replaced on another node. */
export const SIGNED_IN_ELSEWHERE = 'Signed in elsewhere';

interface Latest {
  readonly id: string;
  /** The user's login number in the cluster (Redis counter), once known. */
  seq: number | undefined;
}

/**
 * @example
 * const presence = new ClusterPresence(store, { singleSession: true });
 * const server = new HubServer({ store, singleSession: true, onConnect: presence.onConnect, onDisconnect: presence.onDisconnect });
 * await presence.attach(server); // `online` and `presence` answer for the cluster; kicks cross nodes
 */
export class ClusterPresence {
  readonly #store: RedisStore;
  readonly #singleSession: boolean;
  #server: PresenceServer | undefined;
  /** This node's latest connection of each user. */
  readonly #latest = new Map<string, Latest>();
  /** The highest login number of each user seen on another node. */
  readonly #replaced = new Map<string, number>();
  /** The recording of each connection in Redis, so that its removal comes after it. */
  readonly #recorded = new Map<string, Promise<void>>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #report: (error: unknown) => void;

  constructor(store: RedisStore, options: ClusterPresenceOptions = {}) {
    this.#store = store;
    this.#singleSession = options.singleSession ?? false;
    this.#report = options.onError ?? console.error;
    store.onNodeDeath((node) => this.#forgetNode(node));
  }

  /** For the server's `onConnect` option. */
  readonly onConnect = (connection: PresenceConnection): void => {
    const { id, userId } = connection;
    const latest: Latest = { id, seq: undefined };
    this.#latest.set(userId, latest);
    const recorded = this.#record(id, userId, latest).catch(this.#report);
    this.#recorded.set(id, recorded);
  };

  /** For the server's `onDisconnect` option. */
  readonly onDisconnect = (connection: PresenceConnection): void => {
    const { id, userId } = connection;
    if (this.#latest.get(userId)?.id === id) this.#latest.delete(userId);
    const recorded = this.#recorded.get(id) ?? Promise.resolve();
    this.#recorded.delete(id);
    void recorded.then(() => this.#forget(id, userId)).catch(this.#report);
  };

  /**
   * Serves the server's `online` ({user}) and `presence` ({room}) requests for the whole cluster,
   * and carries out kicks and single sign-on from other nodes.
   */
  async attach(server: PresenceServer): Promise<void> {
    this.#server = server;
    this.#unsubscribe.push(await this.#store.subscribe('kick', this.#kickOnMessage));
    this.#unsubscribe.push(await this.#store.subscribe('sso', this.#ssoOnMessage));
    server.handle('online', async (input) => {
      const user = (input as { user?: unknown } | null)?.user;
      return typeof user === 'string' && (await this.isOnline(user));
    });
    server.handle('presence', async (input) => {
      const room = (input as { room?: unknown } | null)?.room;
      if (typeof room !== 'string') return [];
      // An open room knows its members on every node; otherwise Redis does.
      return (await server.rooms.get(room)?.presence()) ?? this.roomPresence(room);
    });
  }

  /** Whether `userId` has an authenticated connection on any node. */
  async isOnline(userId: string): Promise<boolean> {
    return (await this.connections(userId)) > 0;
  }

  /** How many authenticated connections `userId` has across the cluster. */
  async connections(userId: string): Promise<number> {
    return this.#store.redis.hlen(this.#userKey(userId));
  }

  /** Disconnects every connection of `userId` on every node (a `kicked` frame, code `KICKED`). */
  async kick(userId: string, reason = 'Kicked'): Promise<void> {
    await this.#store.publish('kick', JSON.stringify({ userId, reason }));
  }

  /** The members of `room` on every node, in the order they joined, from Redis. */
  async roomPresence(room: string): Promise<PresenceMember[]> {
    const keys = roomKeys(this.#store.prefix, room);
    const users = await this.#store.redis.zrange(keys.order, '0', '-1');
    if (users.length === 0) return [];
    const counts = await this.#store.redis.hmget(keys.users, ...users);
    return users.map((userId, i) => ({ userId, sessions: Number(counts[i] ?? 0) }));
  }

  /** Stops carrying out kicks from other nodes. */
  close(): void {
    for (const stop of this.#unsubscribe.splice(0)) stop();
  }

  async #record(id: string, userId: string, latest: Latest): Promise<void> {
    const { redis, nodeId } = this.#store;
    const results = await redis
      .multi()
      .hset(this.#userKey(userId), id, nodeId)
      .hset(this.#nodeKey(nodeId), id, userId)
      .incr(`${this.#store.prefix}:user:{${userId}}:logins`)
      .exec();
    const seq = Number(results?.[2]?.[1]);
    latest.seq = seq;
    if (!this.#singleSession) return;
    // A login elsewhere that is newer than this one replaces it.
    if ((this.#replaced.get(userId) ?? 0) > seq && this.#latest.get(userId) === latest) this.#server?.kick(userId, SIGNED_IN_ELSEWHERE);
    await this.#store.publish('sso', JSON.stringify({ userId, seq, node: nodeId }));
  }

  async #forget(id: string, userId: string): Promise<void> {
    await this.#store.redis.multi().hdel(this.#userKey(userId), id).hdel(this.#nodeKey(this.#store.nodeId), id).exec();
  }

  /** A dead node's connections are gone. */
  async #forgetNode(node: string): Promise<void> {
    const { redis } = this.#store;
    const connections = await redis.hgetall(this.#nodeKey(node));
    for (const [id, userId] of Object.entries(connections)) await redis.hdel(this.#userKey(userId), id);
    await redis.del(this.#nodeKey(node));
  }

  readonly #kickOnMessage = (message: string): void => {
    const { userId, reason } = JSON.parse(message) as { userId: string; reason: string };
    this.#server?.kick(userId, reason);
  };

  readonly #ssoOnMessage = (message: string): void => {
    const { userId, seq, node } = JSON.parse(message) as { userId: string; seq: number; node: string };
    if (node === this.#store.nodeId || !this.#singleSession) return;
    if (seq > (this.#replaced.get(userId) ?? 0)) this.#replaced.set(userId, seq);
    const latest = this.#latest.get(userId);
    if (latest?.seq !== undefined && latest.seq < seq) this.#server?.kick(userId, SIGNED_IN_ELSEWHERE);
  };

  #userKey(userId: string): string {
    return `${this.#store.prefix}:user:{${userId}}:connections`;
  }

  #nodeKey(node: string): string {
    return `${this.#store.prefix}:node:{${node}}:connections`;
  }
}

