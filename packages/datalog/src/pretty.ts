import type { HubEvent } from '@msghub/messagehub';

function text(message: unknown): string {
  return typeof message === 'string' ? message : JSON.stringify(message);
}

function describeEvent(event: HubEvent<unknown>): string {
  switch (event.type) {
    case 'join':
      return `${event.userId} joined (${event.sessionId})`;
    case 'add':
      return `${event.userId} added session ${event.sessionId}`;
    case 'remove':
      return `${event.userId} removed session ${event.sessionId}`;
    case 'leave':
      return `${event.userId} left (${event.sessionId})`;
    case 'message': {
      const from = event.userId ?? '(system)';
      const to = event.to === undefined ? '' : ` -> ${event.to}`;
      return `${from}${to}: ${text(event.message)}`;
    }
    case 'close':
      return 'room closed';
    default:
      return JSON.stringify(event);
  }
}

/**
 * One event as a human-readable line: time (UTC), room, id, type and what happened.
 *
 * @param event an event as read from a log
 * @returns e.g. `2026-11-22T20:08:08.123Z lobby #12 message ada -> bob: hello`
 */
export function formatEvent(event: HubEvent<unknown>): string {
  const time = Number.isFinite(event.unixTime) ? new Date(event.unixTime).toISOString() : String(event.unixTime);
  return `${time} ${event.chatroomId} #${event.id} ${event.type} ${describeEvent(event)}`;
}
