import type { HubEvent } from '@msghub/messagehub';

/** Strings that JSON writes as they are between quotes: no quote, backslash, control or surrogate. */
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

function quote(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

/**
 * `JSON.stringify(event)`, byte for byte, for the events a `MessageHub` builds, in about a quarter
 * of the time: a listener's per-event cost is what the room pays on every publish.
 *
 * It relies on the key order of the hub's event literals (id, chatroomId, type, userId, sessionId,
 * to, message, unixTime, each present or absent as a whole), so it is only used for events of a
 * genuine `MessageHub`; anything it cannot write exactly (a non-finite number, a payload JSON leaves
 * out) falls back to `JSON.stringify`. A property test pins the equality for every kind of event.
 */
export function serializeHubEvent(event: HubEvent<unknown>): string {
  const { id, unixTime } = event;
  if (!Number.isFinite(id) || !Number.isFinite(unixTime)) return JSON.stringify(event);
  const e = event as { userId?: string; sessionId?: string; to?: string; message?: unknown };
  let out = `{"id":${id},"chatroomId":${quote(event.chatroomId)},"type":${quote(event.type)}`;
  if (e.userId !== undefined) out += `,"userId":${quote(e.userId)}`;
  if (e.sessionId !== undefined) out += `,"sessionId":${quote(e.sessionId)}`;
  if (e.to !== undefined) out += `,"to":${quote(e.to)}`;
  const { message } = e;
  if (typeof message === 'string') out += `,"message":${quote(message)}`;
  else if (message !== undefined) {
    const json = JSON.stringify(message) as string | undefined;
    if (json === undefined) return JSON.stringify(event);
    out += `,"message":${json}`;
  }
  return `${out},"unixTime":${unixTime}}`;
}

/** The serialiser for events of `hub`: the fast one for a `MessageHub`, `JSON.stringify` otherwise. */
export type Serializer = (event: HubEvent<unknown>) => string;

export function jsonStringify(event: HubEvent<unknown>): string {
  return JSON.stringify(event);
}
