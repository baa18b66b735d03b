/** The kinds of event a room emits, in go-chat's vocabulary. */
export type HubEventType = 'join' | 'add' | 'remove' | 'leave' | 'message' | 'close';

interface EventBase {
  /** Position in the room's sequence: 1, 2, 3, ... with no gap. */
  readonly id: number;
  /** The room that emitted the event. */
  readonly chatroomId: string;
  /** Milliseconds since the Unix epoch, taken when the room processed the command. */
  readonly unixTime: number;
}

/** A session entered the room: `join` for the user's first session, `add` for later ones. */
export interface PresenceEvent extends EventBase {
  readonly type: 'join' | 'add' | 'remove' | 'leave';
  readonly userId: string;
  readonly sessionId: string;
}

/**
 * A message. `userId` is the sender (absent for a system message); `to` names the recipient of a
 * whisper (absent for a broadcast). A whisper reaches only the recipient's and the sender's sessions.
 */
export interface MessageEvent<T = string> extends EventBase {
  readonly type: 'message';
  readonly userId?: string;
  readonly to?: string;
  readonly message: T;
}

/** The room closed; it is always the last event. */
export interface CloseEvent extends EventBase {
  readonly type: 'close';
}

/** One event of a room. JSON field names match go-chat's messagehub so logs line up. */
export type HubEvent<T = string> = PresenceEvent | MessageEvent<T> | CloseEvent;

/**
 * Sent on a resumed session stream (`add(..., { since })`) in place of events that can no longer
 * be replayed. It is not a room event and has no `id`: events `since + 1` to `resumeAt - 1` were
 * not delivered to this session.
 * - `trimmed`: the history ring no longer reaches back to `since + 1`.
 * - `reset`: the room's sequence is not the one `since` was counted in: another epoch (the stream
 *   then replays the room's kept history from its oldest event), or an id beyond the room's last
 *   (a store that lost events; the stream goes on with new events only).
 */
export interface GapNotice {
  readonly type: 'gap';
  readonly chatroomId: string;
  /** The id the subscriber asked to resume after. */
  readonly since: number;
  /** The id of the first event the stream delivers after this notice. */
  readonly resumeAt: number;
  readonly reason: 'trimmed' | 'reset';
  /** The epoch of the sequence the stream goes on in (see `RoomStore`). */
  readonly epoch: string;
  readonly unixTime: number;
}

/** What a session stream carries. Only resumed streams ever carry a {@link GapNotice}. */
export type SessionEvent<T = string> = HubEvent<T> | GapNotice;

/** Whether a session of `userId` may see `event` (whispers are private to their two ends). */
export function isVisibleTo(event: HubEvent<unknown>, userId: string): boolean {
  if (event.type !== 'message' || event.to === undefined) return true;
  return event.to === userId || event.userId === userId;
}
