/**
 * Who may be in a room: the rooms a connect token binds a connection to, and rooms that admit one
 * session per user. The frame router asks here before it lets a connection join, publish, signal
 * or read history in a room.
 */
import type { MessageHub } from '@msghub/messagehub';
import { ForbiddenError, UserInRoomError } from './errors.js';

/**
 * Whether `room` is one of `rooms`: an exact name, or a name ending in `*` that `room` starts
 * with (before the `*`). `undefined` (no binding) allows every room.
 */
export function roomAllowed(rooms: readonly string[] | undefined, room: string): boolean {
  if (rooms === undefined) return true;
  for (const allowed of rooms) {
    if (allowed === room) return true;
    if (allowed.endsWith('*') && room.startsWith(allowed.slice(0, -1))) return true;
  }
  return false;
}

/** What {@link outsideGrant} needs of a connection. */
export interface BoundConnection {
  readonly allowedRooms: readonly string[] | undefined;
}

/** The refusal for a connection whose token does not allow `room`, or undefined when it may. */
export function outsideGrant(connection: BoundConnection, room: string): ForbiddenError | undefined {
  if (roomAllowed(connection.allowedRooms, room)) return undefined;
  return new ForbiddenError(`The connect token of this connection does not allow room ${room}`);
}

/**
 * Where the servers of a cluster record which session holds a room that admits one session per
 * user (`@msghub/cluster`'s `ClusterRoomClaims`): without it each server knows its own sessions and
 * the room's membership as the room's store reports it.
 */
export interface RoomClaims {
  /** Claims `room` for `sessionId`; true when that session holds it now, false when another session of `userId` does. */
  claim(room: string, userId: string, sessionId: string): boolean | Promise<boolean>;
  /** Lets the claim of `sessionId` go; nothing happens when it holds none. */
  release(room: string, userId: string, sessionId: string): void | Promise<void>;
}

/** A connection as {@link sameUserHere} sees it. */
export interface MemberConnection {
  readonly userId: string;
  readonly joined: ReadonlyMap<string, unknown>;
}

function userInRoom(userId: string, room: string): UserInRoomError {
  return new UserInRoomError(`User ${userId} is in room ${room} already, and the room admits one session per user`);
}

/**
 * For a room that admits one session per user: the refusal when another connection of this
 * server with the same user has joined `room` or is joining it. Synchronous, so that of two
 * connections joining at once on one server, the second always sees the first.
 */
export function sameUserHere(connection: MemberConnection, own: readonly MemberConnection[], room: string): UserInRoomError | undefined {
  return own.some((other) => other !== connection && other.joined.has(room)) ? userInRoom(connection.userId, room) : undefined;
}

/**
 * The refusal when the room's hub counts `userId` among its members: on this server, or, for a
 * hub whose store sequences the room for every node (the cluster's `RedisStore`), on any node.
 */
export async function sameUserInHub(hub: MessageHub<unknown>, userId: string, room: string): Promise<UserInRoomError | undefined> {
  return (await hub.isOnline(userId)) ? userInRoom(userId, room) : undefined;
}

/** The refusal when `claims` says another session of the user holds `room`. */
export async function sameUserClaimed(claims: RoomClaims, room: string, userId: string, sessionId: string): Promise<UserInRoomError | undefined> {
  return (await claims.claim(room, userId, sessionId)) ? undefined : userInRoom(userId, room);
}
