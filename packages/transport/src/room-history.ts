/**
 * The built-in `history` operation: a page of a room's committed events, read from the room's store,
 * newest page first, so a client can show what was said before it joined and page further back.
 */
import { isVisibleTo, type HubEvent, type MessageHub } from '@msghub/messagehub';
import { InvalidArgumentWireError } from './errors.js';
import { isName } from './frame-codec.js';

/** Events per page when the request names no `limit`. */
export const HISTORY_DEFAULT_LIMIT = 50;
/** The largest `limit` a `history` request may ask for. */
export const HISTORY_MAX_LIMIT = 200;

/** What a `history` request asks for. */
export interface HistoryRequest {
  /** The room; the connection must have joined it. */
  readonly room: string;
  /** Only events with a lower id. @default the room's last committed id + 1 */
  readonly before?: number;
  /** The size of the id window read. @default 50, at most 200 */
  readonly limit?: number;
}

/** What a `history` request is answered with. */
export interface HistoryPage {
  /**
   * The events with ids in `[before - limit, before)` that the asking user may see (whispers only
   * reach their two ends), oldest first. Fewer than `limit` when some were not for this user or
   * the store keeps no more.
   */
  readonly events: readonly HubEvent<unknown>[];
  /** Whether the store holds older events: ask again with `before` = the first id of this page. */
  readonly more: boolean;
  /** The epoch the ids count in (as in a join's `ok`). */
  readonly epoch: string;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Checks a `history` request's input.
 * @throws {InvalidArgumentWireError} when it is not `{ room, before?, limit? }` with a valid room
 *   name, `before` an integer >= 1 and `limit` an integer from 1 to {@link HISTORY_MAX_LIMIT}
 */
export function parseHistoryRequest(input: unknown): HistoryRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentWireError('Expected the history input to be an object { room, before?, limit? }');
  }
  const { room, before, limit } = input as Record<string, unknown>;
  if (!isName(room)) throw new InvalidArgumentWireError('Expected `room` to be a string of 1 to 256 characters');
  if (before !== undefined && !isPositiveInteger(before)) {
    throw new InvalidArgumentWireError('Expected `before` to be an integer >= 1');
  }
  if (limit !== undefined && !(isPositiveInteger(limit) && limit <= HISTORY_MAX_LIMIT)) {
    throw new InvalidArgumentWireError(`Expected \`limit\` to be an integer from 1 to ${HISTORY_MAX_LIMIT}`);
  }
  return {
    room,
    ...(before === undefined ? {} : { before }),
    ...(limit === undefined ? {} : { limit }),
  };
}

/**
 * Reads one page of `hub`'s history as `userId` may see it.
 * @returns the page: ids in `[before - limit, before)`, oldest first, and whether there is more
 */
export async function readHistory(hub: MessageHub<unknown>, userId: string, request: HistoryRequest): Promise<HistoryPage> {
  const epoch = hub.epoch;
  const limit = request.limit ?? HISTORY_DEFAULT_LIMIT;
  const before = Math.min(request.before ?? Number.MAX_SAFE_INTEGER, hub.lastEventId + 1);
  const low = Math.max(1, before - limit);
  if (before <= 1) return { events: [], more: false, epoch };
  // One event more than the page, below it, tells whether the store reaches further back.
  const since = Math.max(0, low - 2);
  const read = await hub.read(since, before - 1 - since);
  const more = read.length > 0 && (read[0] as HubEvent<unknown>).id < low;
  const events = read.filter((event) => event.id >= low && event.id < before && isVisibleTo(event, userId));
  return { events, more, epoch };
}
