/**
 * Single-use, expiring connect tokens (32 random bytes, 30 s by default). An application issues a
 * token to a user it has already authenticated (over its own HTTP API, say); the client presents
 * it in `hello.token` or the `token` query parameter; the server consumes it once.
 */
import { randomBytes } from 'node:crypto';
import { InvalidUserIdError } from './errors.js';
import { MAX_NAME_LENGTH, grantFor, isName, type IssueOptions, type TokenGrant } from '@msghub/protocol/token-grant';

export type { IssueOptions, TokenGrant };

/**
 * Validates the options of `issue` and makes the grant they describe.
 * @throws {InvalidUserIdError} for a bad user id; {@link TypeError} for bad options
 */
export function grantOf(userId: unknown, options: unknown): TokenGrant {
  if (!isName(userId)) {
    const given = typeof userId === 'string' ? `${userId.length} characters` : typeof userId;
    throw new InvalidUserIdError(`Expected \`userId\` to be a string of 1 to ${MAX_NAME_LENGTH} characters, got ${given}`);
  }
  return grantFor(userId, options);
}

interface Entry {
  readonly grant: TokenGrant;
  readonly expiresAt: number;
}

/** Options of {@link TokenStore}. */
export interface TokenStoreOptions {
  /** How long a token stays valid. @default 30000 */
  ttlMs?: number;
  /** Where time comes from (tests pass a virtual clock). @default Date.now */
  clock?: () => number;
}

/**
 * Issues and redeems connect tokens. Expired tokens are dropped when met and on every issue, so
 * the store holds at most the tokens issued in the last `ttlMs`.
 *
 * @example
 * const token = server.tokens.issue('ada');
 * // client: {"type":"hello","v":1,"token":token}
 * const bound = server.tokens.issue('ada', { rooms: ['lobby', 'game:*'], meta: { plan: 'pro' } });
 */
export class TokenStore {
  readonly ttlMs: number;
  readonly #clock: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: TokenStoreOptions = {}) {
    const ttlMs = options.ttlMs ?? 30_000;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
      throw new TypeError(`Expected \`ttlMs\` to be an integer >= 1, got ${String(ttlMs)}`);
    }
    this.ttlMs = ttlMs;
    this.#clock = options.clock ?? Date.now;
  }

  /** Tokens issued and neither redeemed nor swept yet. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Issues a token for `userId`, optionally bound to `options.rooms`.
   * @returns 32 random bytes, base64url (43 characters)
   * @throws {InvalidUserIdError} (a `TypeError`, code `INVALID_FIELD`) when `userId` is not a
   *   string of 1 to 256 characters: no token is issued that could only fail authentication
   * @throws {TypeError} for options other than `{ meta?, rooms? }`, or a `rooms` that is not an
   *   array of at most 256 room names
   */
  issue(userId: string, options?: IssueOptions): string {
    const grant = grantOf(userId, options);
    const now = this.#clock();
    this.#sweep(now);
    const token = randomBytes(32).toString('base64url');
    this.#entries.set(token, { grant, expiresAt: now + this.ttlMs });
    return token;
  }

  /** Redeems `token`: returns its grant once, or undefined when unknown, used or expired. */
  consume(token: string): TokenGrant | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    this.#entries.delete(token);
    return entry.expiresAt > this.#clock() ? entry.grant : undefined;
  }

  /** Forgets every token. */
  clear(): void {
    this.#entries.clear();
  }

  #sweep(now: number): void {
    // Map order is issue order and every entry has the same ttl: expired ones are at the front.
    for (const [token, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(token);
    }
  }
}
