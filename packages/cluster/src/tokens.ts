/**
 * Single-use, expiring connect tokens valid on every node: kept in Redis and taken with one atomic
 * GETDEL, so a token is redeemed once in the whole cluster however many nodes see it at once.
 */
import { randomBytes } from 'node:crypto';
import type { RedisStore } from './redis-store.js';

/** What a token stands for (the shape of the transport's `TokenGrant`). */
export interface ClusterTokenGrant {
  readonly userId: string;
  readonly meta?: Readonly<Record<string, unknown>>;
  /** The only rooms the connection may use (the transport's `TokenGrant.rooms`); absent: any room. */
  readonly rooms?: readonly string[];
}

/** Options of {@link RedisTokenStore.issue} (the transport's `IssueOptions`). */
export interface ClusterIssueOptions {
  /** Handed to hooks and handlers as `connection.meta`. @default {} */
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * Binds the connection to these rooms, at most 256: exact names, and prefix patterns ending in
   * `*` (`'game:*'`); any other room is `FORBIDDEN`. @default every room
   */
  readonly rooms?: readonly string[];
}

/** Most entries one token's `rooms` may list (as in the transport). */
const MAX_TOKEN_ROOMS = 256;

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

/** The grant `issue` stores. @throws {TypeError} for bad options */
function grantOf(userId: string, options: unknown): ClusterTokenGrant {
  if (options === undefined) return { userId };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`Expected the options of \`issue\` to be an object { meta?, rooms? }, got ${options === null ? 'null' : typeof options}`);
  }
  const unknown = Object.keys(options).filter((key) => key !== 'meta' && key !== 'rooms');
  if (unknown.length > 0) {
    throw new TypeError(`Unknown option ${JSON.stringify(unknown[0])} of \`issue\`: expected { meta?, rooms? } (meta goes in \`meta\`)`);
  }
  const { meta, rooms } = options as ClusterIssueOptions;
  if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) {
    throw new TypeError(`Expected \`meta\` to be an object, got ${meta === null ? 'null' : typeof meta}`);
  }
  if (rooms !== undefined) {
    if (!Array.isArray(rooms) || rooms.length > MAX_TOKEN_ROOMS || !rooms.every(isName)) {
      throw new TypeError(`Expected \`rooms\` to be an array of at most ${MAX_TOKEN_ROOMS} room names of 1 to 256 characters`);
    }
  }
  return { userId, ...(meta === undefined ? {} : { meta }), ...(rooms === undefined ? {} : { rooms: [...rooms] }) };
}

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /** How long a token stays valid. @default 30000 */
  ttlMs?: number;
}

/**
 * Issues and redeems connect tokens in Redis. Use it as the server's authenticator so that a token
 * issued by any node (or by a login service) is accepted once by whichever node the client reaches.
 *
 * @example
 * const tokens = new RedisTokenStore(store);
 * const server = new HubServer({ store, authenticate: ({ hello }) => tokens.consume(hello.token ?? '') });
 * const token = await tokens.issue('ada'); // hand it to the client
 * const bound = await tokens.issue('ada', { rooms: ['match-42'] }); // only room match-42
 */
export class RedisTokenStore {
  readonly ttlMs: number;
  readonly #store: RedisStore;

  /** @throws {TypeError} for a `ttlMs` that is not an integer >= 1 */
  constructor(store: RedisStore, options: RedisTokenStoreOptions = {}) {
    const ttlMs = options.ttlMs ?? 30_000;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new TypeError(`Expected \`ttlMs\` to be an integer >= 1, got ${String(ttlMs)}`);
    this.ttlMs = ttlMs;
    this.#store = store;
  }

  /**
   * Issues a token for `userId`, valid for `ttlMs` on every node, optionally bound to `options.rooms`.
   * @returns 32 random bytes, base64url (43 characters)
   * @throws {TypeError} (rejects) when `userId` is not a string of 1 to 256 characters, for options
   *   other than `{ meta?, rooms? }`, or a `rooms` that is not an array of at most 256 room names
   */
  async issue(userId: string, options?: ClusterIssueOptions): Promise<string> {
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > 256) {
      throw new TypeError(`Expected \`userId\` to be a string of 1 to 256 characters, got ${typeof userId === 'string' ? `${userId.length} characters` : typeof userId}`);
    }
    const grant = grantOf(userId, options);
    const token = randomBytes(32).toString('base64url');
    await this.#store.redis.set(this.#key(token), JSON.stringify(grant), 'PX', this.ttlMs);
    return token;
  }

  /** Redeems `token`: its grant once in the whole cluster, or undefined when unknown, used or expired. */
  async consume(token: string): Promise<ClusterTokenGrant | undefined> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 256) return undefined;
    const text = await this.#store.redis.getdel(this.#key(token));
    if (text === null) return undefined;
    try {
      return JSON.parse(text) as ClusterTokenGrant;
    } catch {
      return undefined;
    }
  }

  #key(token: string): string {
    return `${this.#store.prefix}:token:${token}`;
  }
}
