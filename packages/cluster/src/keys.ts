/**
 * Where everything lives in Redis. Every key of one room carries the hash tag `{room}`, so that on
 * Redis Cluster a room's keys share one slot and its scripts run on one shard.
 */

/** The keys of one room, in the order the scripts take them. */
export interface RoomKeys {
  /** Hash: `epoch`, `head` (the last id), `closed` (1 when the last event is a close). */
  readonly meta: string;
  /** Stream: one entry per event, id `<event id>-0`, field `e` = the event's JSON. */
  readonly events: string;
  /** Hash: JSON [user, session] → JSON [node, user, session], every session in the room. */
  readonly sessions: string;
  /** Hash: user → its number of sessions in the room. */
  readonly users: string;
  /** Sorted set: user → the id of its `join` (presence in join order). */
  readonly order: string;
}

export function roomKeys(prefix: string, room: string): RoomKeys {
  const base = `${prefix}:{${room}}:`;
  return { meta: `${base}meta`, events: `${base}events`, sessions: `${base}sessions`, users: `${base}users`, order: `${base}order` };
}

/** Sorted set: node id → the time (ms, Redis clock) of its last heartbeat. */
export function nodesKey(prefix: string): string {
  return `${prefix}:nodes`;
}

/** Set: the rooms in which `node` may hold sessions. */
export function nodeRoomsKey(prefix: string, node: string): string {
  return `${prefix}:node:{${node}}:rooms`;
}

/** Stream: written to wake `node`'s blocking read when the rooms it follows change. */
export function nodeWakeKey(prefix: string, node: string): string {
  return `${prefix}:node:{${node}}:wake`;
}

/** Hash: user → the session holding the room (JSON [node, session]), for rooms that admit one session per user. */
export function roomClaimsKey(prefix: string, room: string): string {
  return `${prefix}:{${room}}:claims`;
}

/** Set: the claims `node` holds (JSON [room, user, session]), released by a survivor when it dies. */
export function nodeClaimsKey(prefix: string, node: string): string {
  return `${prefix}:node:{${node}}:claims`;
}
