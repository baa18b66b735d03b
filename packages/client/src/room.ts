import { Subject, type Observable } from 'rxjs';
import type { GapFrame, HubEvent } from './protocol.js';

/**
 * Delivered in a room's stream in place of events the server can no longer send: events
 * `since + 1` to `resumeAt - 1` are missing.
 * - `trimmed`: the server's history no longer reaches back to `since + 1`.
 * - `reset`: `since` is beyond the room's last id (the room restarted without its history).
 * - `dropped`: the server discarded queued events because this client read too slowly.
 */
export interface RoomGap {
  readonly type: 'gap';
  readonly chatroomId: string;
  /** The last id received before the gap. */
  readonly since: number;
  /** The id of the first event the stream delivers after this notice. */
  readonly resumeAt: number;
  readonly reason: GapFrame['reason'];
}

/** What a room's stream carries: its events in id order, each once, and explicit gap notices. */
export type RoomItem<T = unknown> = HubEvent<T> | RoomGap;

/** Options of `join`. */
export interface JoinOptions {
  /**
   * Resume after this event id (for example one kept in storage): the server replays what its
   * history still holds, or sends a gap notice. @default none: events from the join on
   */
  since?: number;
}

/**
 * The client's side of one joined room: the last id seen and the stream subscribers share.
 * Drops any event whose id is not above the last one seen, so a replay after a reconnect never
 * repeats an event.
 */
export class RoomChannel {
  readonly name: string;
  readonly #subject = new Subject<RoomItem>();
  /** The last event id delivered (or resumed after); undefined until the first join answers. */
  lastEventId: number | undefined;
  /** Subscribers of `join(name)`. */
  subscribers = 0;
  #ended = false;
  /** The `lastEventId` the latest join was answered with: events up to it are replayed history. */
  #joinedAfter = 0;

  constructor(name: string, since: number | undefined) {
    this.name = name;
    this.lastEventId = since;
  }

  /** The shared stream of this room. */
  get items(): Observable<RoomItem> {
    return this.#subject.asObservable();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The server accepted a join: without an earlier position, events after `lastEventId` are ours. */
  joined(lastEventId: number | undefined): void {
    if (this.lastEventId === undefined && typeof lastEventId === 'number') this.lastEventId = lastEventId;
  }

  /**
   * The server answered a join with the room's last id before it. Called as the answer arrives,
   * before the replayed events that follow it are handled.
   */
  answered(lastEventId: number): void {
    // Not a maximum: a room that restarted without its history (a `reset` gap) counts from 1 again.
    this.#joinedAfter = lastEventId;
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
   * Delivers a gap notice and moves the position to just before `resumeAt`. A `reset` may move it
   * back (the room's ids restarted); other gaps only ever move it forward.
   */
  gap(frame: GapFrame): void {
    if (this.#ended) return;
    const last = this.lastEventId ?? frame.since;
    if (frame.reason !== 'reset' && frame.resumeAt - 1 <= last) return;
    this.#subject.next({
      type: 'gap',
      chatroomId: this.name,
      since: last,
      resumeAt: frame.resumeAt,
      reason: frame.reason,
    });
    this.lastEventId = frame.resumeAt - 1;
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
