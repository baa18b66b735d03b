import type { HubEvent } from '@msghub/messagehub';
import { LogNotFoundError, LogOptionError, type LogReadError, type MalformedLineError, type TornLineError } from './errors.js';
import { describe, integerOption } from './options.js';
import { readLog } from './reader.js';

/** Options of {@link replay}. */
export interface ReplayOptions {
  /** The room to rebuild. */
  readonly room: string;
  /** How many of the latest events to return as history; match the hub's `historySize`. @default 1024 */
  readonly historySize?: number;
  /** Called for each file that ends in a partial line (skipped). */
  readonly onTorn?: (torn: TornLineError) => void;
}

/** Exactly what `new MessageHub({ chatroomId, seed })` takes. */
export interface RoomSeed<T = string> {
  /** The id of the room's last logged event (0 when it has none); the restarted room continues at the next. */
  readonly lastEventId: number;
  /** The room's latest events, oldest first, at most `historySize`. */
  readonly history: HubEvent<T>[];
}

/**
 * Rebuilds a room's id counter and history from its log, so a restarted room continues at the
 * next id and resumed sessions can be replayed what they missed.
 *
 * When the room's ids start again from a lower id (it was once restarted without a seed), the
 * latest run wins: the seed is built from the events after the restart. A log that does not exist
 * yet (neither the file nor a rotated one) gives the empty seed: the room's first start.
 *
 * @param file the log file's path (rotated files are read too)
 * @returns the seed; pass it as `seed` with the same `chatroomId`. Rejects with
 *   {@link LogReadError} or {@link MalformedLineError} when the log cannot be read.
 * @example
 * const seed = await replay('events.log', { room: 'lobby' });
 * const hub = new MessageHub({ chatroomId: 'lobby', seed });
 */
export async function replay<T = string>(file: string, options: ReplayOptions): Promise<RoomSeed<T>> {
  if (typeof options !== 'object' || options === null || typeof options.room !== 'string' || options.room.length === 0) {
    throw new LogOptionError(`Expected \`room\` to be a non-empty string, got ${describe(options?.room)}`);
  }
  const size = integerOption('historySize', options.historySize, 0, 1024);
  const ring: HubEvent<T>[] = [];
  let lastEventId = 0;
  const read = options.onTorn === undefined ? { room: options.room } : { room: options.room, onTorn: options.onTorn };
  try {
    for await (const event of readLog<T>(file, read)) {
      if (event.id <= lastEventId) ring.length = 0;
      lastEventId = event.id;
      if (size === 0) continue;
      ring.push(event);
      if (ring.length >= 2 * size) ring.splice(0, ring.length - size);
    }
  } catch (error) {
    // A log that does not exist yet is the first start of the room.
    if (!(error instanceof LogNotFoundError)) throw error;
  }
  return { lastEventId, history: size === 0 ? [] : ring.slice(-size) };
}
