/**
 * What a connect token stands for, and the checks of what `issue` is given: the same rules for the
 * server's in-memory tokens and the cluster's tokens in Redis.
 */

/** Longest user id, room name or other name on the wire. */
export const MAX_NAME_LENGTH = 256;

/** Most entries one token's `rooms` may list. */
export const MAX_TOKEN_ROOMS = 256;

/** A name on the wire: a string of 1 to {@link MAX_NAME_LENGTH} characters. */
export function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH;
}

/** What a token stands for. */
export interface TokenGrant {
  readonly userId: string;
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * The only rooms the connection may join (and publish, signal and read history in); absent: any
   * room. Exact names; a name ending in `*` stands for every room that starts with what precedes it.
   */
  readonly rooms?: readonly string[];
}

/** Options of a token store's `issue`. */
export interface IssueOptions {
  /** Handed to hooks and handlers as `connection.meta`. @default {} */
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * Binds the connection to these rooms (at most 256 entries): joining any other room, and
   * publishing, signalling or reading history there, is refused with `FORBIDDEN`. Exact room names;
   * an entry ending in `*` is a prefix pattern (`'game:*'` allows `game:1`, `game:2`, ...).
   * `[]` allows no room (direct messages and requests only). @default every room
   */
  readonly rooms?: readonly string[];
}

/**
 * Checks a `rooms` binding (a token's, or what an authenticator returned).
 * @returns the message saying what is wrong, or undefined when `rooms` is a valid binding: an
 *   array of at most {@link MAX_TOKEN_ROOMS} room names (1 to 256 characters); a name ending in
 *   `*` stands for every room whose name starts with what comes before the `*`
 */
export function roomsProblem(rooms: unknown): string | undefined {
  if (!Array.isArray(rooms)) return `Expected \`rooms\` to be an array of room names, got ${rooms === null ? 'null' : typeof rooms}`;
  if (rooms.length > MAX_TOKEN_ROOMS) return `Expected \`rooms\` to list at most ${MAX_TOKEN_ROOMS} rooms, got ${rooms.length}`;
  const bad = rooms.findIndex((room) => !isName(room));
  if (bad !== -1) return `Expected \`rooms[${bad}]\` to be a room name of 1 to ${MAX_NAME_LENGTH} characters, got ${typeof rooms[bad]}`;
  return undefined;
}

/**
 * The grant for `userId` (already checked) that the options of `issue` describe; `rooms` is a
 * frozen copy.
 * @throws {TypeError} for options that are not `{ meta?, rooms? }` of the right types
 */
export function grantFor(userId: string, options: unknown): TokenGrant {
  if (options === undefined) return { userId };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`Expected the options of \`issue\` to be an object { meta?, rooms? }, got ${options === null ? 'null' : typeof options}`);
  }
  const unknown = Object.keys(options).filter((key) => key !== 'meta' && key !== 'rooms');
  if (unknown.length > 0) {
    throw new TypeError(`Unknown option ${JSON.stringify(unknown[0])} of \`issue\`: expected { meta?, rooms? } (meta goes in \`meta\`)`);
  }
  const { meta, rooms } = options as IssueOptions;
  if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) {
    throw new TypeError(`Expected \`meta\` to be an object, got ${meta === null ? 'null' : typeof meta}`);
  }
  if (rooms !== undefined) {
    const problem = roomsProblem(rooms);
    if (problem !== undefined) throw new TypeError(problem);
  }
  return {
    userId,
    ...(meta === undefined ? {} : { meta }),
    ...(rooms === undefined ? {} : { rooms: Object.freeze([...rooms]) }),
  };
}
