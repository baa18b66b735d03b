import { Subject, type Observable } from 'rxjs';
import type { GapFrame, HubEvent } from './protocol.js';

/**
 * Delivered in a room's stream in place of events the server can no longer send.
 * - `trimmed`: the server's history no longer reaches back to `since + 1`; events `since + 1` to
 *   `resumeAt - 1` are missing.
 * - `reset`: the room's sequence started again (a new `epoch`: the server lost or replaced the
 *   room's store), or `since` is beyond the room's last id. `since` is the last id of the old
 *   sequence; the stream goes on with the new sequence at `resumeAt`, which may be lower than
 *   `since`. What the old sequence held after `since` is lost, and so are ids `1` to
 *   `resumeAt - 1` of the new one.
 * - `dropped`: the server discarded queued events because this client read too slowly; events
 *   `since + 1` to `resumeAt - 1` are missing.
 */
export interface RoomGap {
  readonly type: 'gap';
  readonly chatroomId: string;
  /** The last id received before the gap. */
  readonly since: number;
  /** The id of the first event the stream delivers after this notice. */
  readonly resumeAt: number;
  readonly reason: GapFrame['reason'];
  /** The epoch the stream goes on in (see {@link RoomPosition}), when the server named one. */
  readonly epoch?: string;
}

/** What a room's stream carries: its events in id order, each once, and explicit gap notices. */
export type RoomItem<T = unknown> = HubEvent<T> | RoomGap;

/**
 * Where a room's stream stands: the epoch that names the room's sequence and the last id
 * delivered (or resumed after) in it. Keep both to resume later with `join(room, position)`.
 */
export interface RoomPosition {
  /**
   * Names the room's sequence of ids. It changes only when the sequence starts again (the server
   * lost or replaced the room's store); ids are compared within one epoch only. Undefined until a
   * server that names epochs answered the join.
   */
  readonly epoch?: string;
  /** The last event id delivered, or resumed after. */
  readonly lastEventId: number;
}

/** Options of `join`. */
export interface JoinOptions {
  /**
   * Resume after this event id (for example one kept in storage): the server replays what its
   * history still holds, or sends a gap notice. @default none: events from the join on
   */
  since?: number;
  /**
   * The epoch `since` was counted in (from {@link RoomPosition} or a gap notice). When the room's
   * sequence has started again since, the stream begins with a `reset` gap and the new sequence
   * instead of comparing ids of two sequences. Only with `since`. @default none
   */
  epoch?: string;
}

/** What the server's `ok` to a join tells the room. */
export interface JoinAnswer {
  /** The room's last id before this session's join. */
  readonly lastEventId?: number | undefined;
  /** The epoch of the room's sequence. */
  readonly epoch?: string | undefined;
}

/**
 * The client's side of one joined room: its position (epoch and last id seen) and the stream
 * subscribers share. Within an epoch it drops any event whose id is not above the last one seen,
 * so a replay after a reconnect never repeats an event; a `reset` gap starts the next epoch, whose
 * ids may be lower.
 */
export class RoomChannel {
  readonly name: string;
  readonly #subject = new Subject<RoomItem>();
  /** The last event id delivered (or resumed after); undefined until the first join answers. */
  lastEventId: number | undefined;
  /** The epoch `lastEventId` counts in; undefined until a server named one. */
  epoch: string | undefined;
  /** Subscribers of `join(name)`. */
  subscribers = 0;
  #ended = false;
  /** The `lastEventId` the latest join was answered with: events up to it are replayed history. */
  #joinedAfter = 0;

  constructor(name: string, since: number | undefined, epoch?: string) {
    this.name = name;
    this.lastEventId = since;
    this.epoch = since === undefined ? undefined : epoch;
  }

  /** The shared stream of this room. */
  get items(): Observable<RoomItem> {
    return this.#subject.asObservable();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The position to resume from, once there is one. */
  get position(): RoomPosition | undefined {
    if (this.lastEventId === undefined) return undefined;
    return this.epoch === undefined ? { lastEventId: this.lastEventId } : { epoch: this.epoch, lastEventId: this.lastEventId };
  }

  /**
   * The server answered a join. Called as the answer arrives, before the replayed events that
   * follow it are handled. Without an earlier position, events after `lastEventId` are ours, in
   * the answer's epoch. With one, the position keeps its epoch: when the room's epoch differs, a
   * `reset` gap follows and moves the position into the new sequence.
   */
  answered(answer: JoinAnswer): void {
    const { lastEventId, epoch } = answer;
    if (typeof lastEventId === 'number') {
      // Not a maximum: a room that restarted without its history (a `reset` gap) counts from 1 again.
      this.#joinedAfter = lastEventId;
      if (this.lastEventId === undefined) {
        this.lastEventId = lastEventId;
        this.epoch = epoch;
        return;
      }
    }
    // A position that named no epoch was counted in the room's current one (the server compared it so).
    if (this.epoch === undefined && typeof epoch === 'string') this.epoch = epoch;
  }

  /**
   * Delivers `event` unless it was delivered before. Returns whether it was delivered. A live
   * `close` ends the stream; a replayed one ended an earlier incarnation of a room that was
   * created again (with its ids going on), and the stream goes on with the new one.
   */
  receive(event: HubEvent): boolean {
    if (this.#ended || typeof event.id !== 'number') return false;
    if (this.lastEventId !== undefined && event.id <= this.lastEventId) return false;
    this.lastEventId = event.id;
    this.#subject.next(event);
    if (event.type === 'close' && event.id > this.#joinedAfter) this.end();
    return true;
  }

  /**
   * Delivers a gap notice and moves the position to just before `resumeAt`, in the epoch the gap
   * names. A `reset` may move it back (the room's ids restarted); other gaps only ever move it
   * forward.
   */
  gap(frame: GapFrame): void {
    if (this.#ended) return;
    const last = this.lastEventId ?? frame.since;
    if (typeof frame.epoch === 'string') this.epoch = frame.epoch;
    if (frame.reason !== 'reset' && frame.resumeAt - 1 <= last) return;
    const notice: RoomGap = {
      type: 'gap',
      chatroomId: this.name,
      since: last,
      resumeAt: frame.resumeAt,
      reason: frame.reason,
      ...(this.epoch === undefined ? {} : { epoch: this.epoch }),
    };
    this.lastEventId = frame.resumeAt - 1;
    this.#subject.next(notice);
  }

  /** Completes the stream. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#subject.complete();
  }

  /** Ends the stream with `error`. */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#subject.error(error);
  }
}
