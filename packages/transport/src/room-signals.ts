/**
 * Ephemeral signals (typing indicators, cursors, "seen" marks): a member's `signal` frame goes to
 * the room's other current members as a `signal` frame. Nothing is numbered, stored, logged or
 * replayed; a member that joins later never sees an earlier signal, and a connection whose socket
 * is not keeping up is skipped rather than made slower.
 */
import type { RoomFeed } from './room-feed.js';
import type { Connection } from './connection.js';
import { encodeFrame } from './frame-codec.js';
import type { SignalFrame } from './protocol.js';

export class RoomSignals {
  /** Room name → the feeds (one per member connection) of that room. */
  readonly #members = new Map<string, Set<RoomFeed>>();

  /** A connection entered the room through `feed`. */
  add(feed: RoomFeed): void {
    let feeds = this.#members.get(feed.room);
    if (feeds === undefined) {
      feeds = new Set();
      this.#members.set(feed.room, feeds);
    }
    feeds.add(feed);
  }

  /** The member of `feed` left the room (or its room closed). */
  delete(feed: RoomFeed): void {
    const feeds = this.#members.get(feed.room);
    if (feeds === undefined) return;
    feeds.delete(feed);
    if (feeds.size === 0) this.#members.delete(feed.room);
  }

  /**
   * Sends `data` from `sender` to every other connection in `room`, the sender's other connections
   * included. A connection whose socket is still draining earlier frames does not get it: a signal
   * is worth nothing late, and must never be the frame that makes a reader a slow consumer.
   * @returns how many connections it was queued to
   */
  fanOut(sender: Connection, room: string, data: unknown): number {
    return this.#send(sender, room, sender.userId, data);
  }

  /** Sends a signal another server's member sent (see `HubServerOptions.signalBus`) to every connection in `room`. */
  deliver(room: string, from: string, data: unknown): number {
    return this.#send(undefined, room, from, data);
  }

  #send(sender: Connection | undefined, room: string, from: string, data: unknown): number {
    const feeds = this.#members.get(room);
    if (feeds === undefined) return 0;
    const frame: SignalFrame = { type: 'signal', room, from, data };
    let text: string | undefined;
    let sent = 0;
    const seen = new Set<Connection>();
    for (const { connection } of feeds) {
      if (connection === sender || seen.has(connection) || connection.state !== 'open') continue;
      seen.add(connection);
      if (connection.blockedSince !== 0 || connection.socket.needsDrain) continue;
      if (connection.hasSendHook) connection.sendFrame(frame);
      else connection.enqueue((text ??= encodeFrame(frame)), undefined, 0);
      sent++;
    }
    return sent;
  }
}
