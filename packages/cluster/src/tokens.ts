/**
 * Single-use, expiring connect tokens valid on every node: kept in Redis and taken with one atomic
 * GETDEL, so a token is redeemed once in the whole cluster however many nodes see it at once.
 */
import { randomBytes } from 'node:crypto';
import { MAX_NAME_LENGTH, grantFor, isName, type IssueOptions, type TokenGrant } from '@msghub/protocol/token-grant';
import type { RedisStore } from './redis-store.js';

/** What a token stands for: the transport's `TokenGrant`. */
export type ClusterTokenGrant = TokenGrant;

/** Options of {@link RedisTokenStore.issue}: the transport's `IssueOptions`. */
export type ClusterIssueOptions = IssueOptions;

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
    if (!isName(userId)) {
      throw new TypeError(`Expected \`userId\` to be a string of 1 to ${MAX_NAME_LENGTH} characters, got ${typeof userId === 'string' ? `${(userId as string).length} characters` : typeof userId}`);
    }
    const grant = grantFor(userId, options);
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
