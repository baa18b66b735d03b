/**
 * Carries one connection's session stream of one room to the socket: room events become `event`
 * frames (the room encodes an event once; its text is framed once and shared by every connection
 * of the room), gap notices become `gap` frames, and the `ok` answering the join goes first.
 */
import type { HubEvent, JoinPosition, MessageHub, SessionEvent } from '@msghub/messagehub';
import type { Observer, Subscription } from 'rxjs';
import type { Connection, Membership } from './connection.js';
import { toWireError } from './errors.js';
import type { OkFrame, Ref } from './protocol.js';

// The hub hands the same event object to every session in turn, so a one-slot cache serves the
// whole fan-out of an event with one JSON.stringify and one UTF-8 encoding, shared by every socket.
let cachedEvent: object | undefined;
let cachedFrame: Buffer = Buffer.alloc(0);

function eventFrame(hub: MessageHub<unknown>, room: string, event: HubEvent<unknown>): Buffer {
  if (event !== cachedEvent) {
    const text = hub.encoded(event) ?? JSON.stringify(event);
    cachedFrame = Buffer.from(`{"type":"event","room":${JSON.stringify(room)},"event":${text}}`);
    cachedEvent = event;
  }
  return cachedFrame;
}

/** Called when a feed ends (left, room closed, failed). */
export type FeedEnded = (feed: RoomFeed) => void;

export class RoomFeed implements Observer<SessionEvent<unknown>>, Membership {
  readonly room: string;
  readonly hub: MessageHub<unknown>;
  readonly connection: Connection;
  readonly #ref: Ref | undefined;
  readonly #ended: FeedEnded;
  #answered = false;
  #subscription: Subscription | undefined;
  #done = false;

  constructor(connection: Connection, room: string, hub: MessageHub<unknown>, ref: Ref | undefined, ended: FeedEnded) {
    this.connection = connection;
    this.room = room;
    this.hub = hub;
    this.#ref = ref;
    this.#ended = ended;
  }

  /** Subscribes to the session stream of this connection in the room. */
  start(since: number | undefined, epoch: string | undefined): void {
    const { userId, id } = this.connection;
    const stream = this.hub.add(userId, id, {
      ...(since === undefined ? {} : { since }),
      ...(epoch === undefined ? {} : { epoch }),
      onJoined: this.#joined,
    });
    const subscription = stream.subscribe(this);
    if (this.#done) subscription.unsubscribe();
    else this.#subscription = subscription;
  }

  next(event: SessionEvent<unknown>): void {
    const connection = this.connection;
    if (event.type === 'gap') {
      const { since, resumeAt, reason, epoch } = event;
      const { gaps } = connection.counters;
      gaps[reason] = (gaps[reason] ?? 0) + 1;
      connection.sendFrame({ type: 'gap', room: this.room, since, resumeAt, reason, epoch });
      return;
    }
    // A payload JSON cannot encode (a BigInt, a cycle, put in by server code) must not throw into
    // the room's delivery loop: it is reported and skipped for this connection.
    try {
      if (connection.hasSendHook) connection.sendFrame({ type: 'event', room: this.room, event });
      else connection.enqueue(eventFrame(this.hub, this.room, event), this.room, event.id);
    } catch (error) {
      connection.report(error);
    }
  }

  error(error: unknown): void {
    if (!this.#answered) {
      this.#answered = true;
      this.connection.error(toWireError(error), this.#ref, 'join');
    } else if ((error as { code?: unknown } | null)?.code === 'STORE_FAILED') {
      // The room stopped because its store failed. The client would otherwise think it is still in
      // the room: it is told to reconnect, and its resume opens the room again from the store. The
      // close waits a turn so that the publishes of the failed batch are answered first.
      this.#end();
      setImmediate(closeOnStoreFailure, this.connection, this.room);
      return;
    }
    this.#end();
  }

  complete(): void {
    this.#end();
  }

  unsubscribe(): void {
    this.#subscription?.unsubscribe();
    this.#end();
  }

  /** Sends the join's `ok` before anything of the stream: the epoch and the room's last id before this session's join. */
  readonly #joined = (position: JoinPosition): void => {
    if (this.#answered) return;
    this.#answered = true;
    const ref = this.#ref;
    if (ref === undefined) return;
    const ok: OkFrame = { type: 'ok', ref, room: this.room, lastEventId: position.lastEventId, epoch: position.epoch };
    this.connection.sendFrame(ok);
  };

  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ended(this);
  }
}

function closeOnStoreFailure(connection: Connection, room: string): void {
  connection.close('STORE_FAILED', `The store of room ${room} failed`);
}
