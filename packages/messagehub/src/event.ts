import type { HubEvent } from '@msghub/protocol';

export type { CloseEvent, HubEvent, HubEventType, MessageEvent, PresenceEvent } from '@msghub/protocol';

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
